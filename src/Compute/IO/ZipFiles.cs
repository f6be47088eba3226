using System.IO.Compression;

namespace SaeCluster.Compute;

/// <summary>Opening the ZIP archives .pt and .npz files are, with one clear error for a file that is not one.</summary>
internal static class ZipFiles
{
    /// <summary>
    /// Opens <paramref name="fullPath"/> for reading (the archive owns the file stream). A file that is not a ZIP
    /// archive, or is cut short, throws what <paramref name="notAZip"/> makes of the library's message.
    /// </summary>
    public static ZipArchive OpenRead(string fullPath, Func<string, InvalidDataException, Exception> notAZip)
    {
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        try
        {
            return new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: false);
        }
        catch (InvalidDataException e)
        {
            stream.Dispose();
            throw notAZip($"not a ZIP archive, or a truncated one ({e.Message})", e);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }
}
