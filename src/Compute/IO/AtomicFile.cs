namespace SaeCluster.Compute;

/// <summary>
/// Writes a file all-or-nothing: into <c>.{name}.tmp-{guid}</c> beside it, flushed to disk, then renamed over the target.
/// A failure at any point removes the temp file, so readers see the old file or the complete new one, never a partial one.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Runs <paramref name="write"/> on the temp file's stream, then renames it onto <paramref name="fullPath"/>. With
    /// <paramref name="overwrite"/> false the rename fails (<see cref="IOException"/>) when the target exists, so
    /// concurrent writers cannot replace each other's file.
    /// </summary>
    public static void Write(string fullPath, Action<FileStream> write, bool overwrite = true, long preallocate = 0)
    {
        string tempPath = Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.tmp-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(tempPath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite, // ZipArchive in Create mode seeks back to fill in local headers
                BufferSize = 1 << 20,
                PreallocationSize = preallocate,
            }))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(tempPath, fullPath, overwrite);
        }
        catch
        {
            try
            {
                File.Delete(tempPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // best effort: never hide the exception being propagated
            }
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8, all-or-nothing.</summary>
    public static void WriteText(string fullPath, string text) => Write(fullPath, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text)));
}
