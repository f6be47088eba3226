using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SaeCluster.Grains;

/// <summary>
/// A blob store in a local (or shared, POSIX) folder: blob "a/b/c" is the file root/a/b/c. Every write goes
/// to a hidden temp file (".blobtmp-…") in the destination folder, is flushed to disk, then renamed over
/// the destination, so readers see the old or the new content, never a mix. <see cref="TryCreateAsync"/>
/// publishes with link(2), which fails when the name exists: of any number of concurrent creators, in this
/// or other processes, exactly one succeeds. Empty folders left by deletes are not removed (a concurrent
/// writer may be about to use them).
/// </summary>
public sealed partial class LocalBlobStore : IBlobStore
{
    const int CopyBufferSize = 1 << 20;

    /// <summary>Opens (does not create) the store at <paramref name="root"/>; <see cref="InitializeAsync"/> creates it.</summary>
    public LocalBlobStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
    }

    /// <summary>The absolute folder path.</summary>
    public string Root { get; }

    public string Location => Root;

    public Task InitializeAsync(CancellationToken ct = default)
    {
        try
        {
            Directory.CreateDirectory(Root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlobStoreException(Location, "", $"cannot create the folder: {e.Message}", e);
        }
        return Task.CompletedTask;
    }

    public async Task<bool> TryCreateAsync(string name, Stream content, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        string path = PathOf(name);
        if (File.Exists(path)) return false; // cheap early answer; the link below decides races
        string temp = await WriteTempAsync(name, path, content, ct);
        try
        {
            return Publish(name, temp, path);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    public async Task PutAsync(string name, Stream content, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        string path = PathOf(name);
        string temp = await WriteTempAsync(name, path, content, ct);
        try
        {
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw Wrap(name, "cannot replace the blob", e);
        }
    }

    public Task<long?> GetSizeAsync(string name, CancellationToken ct = default)
    {
        var info = new FileInfo(PathOf(name));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public async Task<int> ReadRangeAsync(string name, long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        using var handle = OpenForRead(name);
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await RandomAccess.ReadAsync(handle, buffer[total..], offset + total, ct);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    public async Task DownloadToFileAsync(string name, string path, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var source = OpenForRead(name);
        string target = Path.GetFullPath(path);
        string temp = DownloadTempPath(target);
        bool moved = false;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await using (var from = new FileStream(source, FileAccess.Read, 0))
            await using (var to = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
            {
                await from.CopyToAsync(to, CopyBufferSize, ct);
                to.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
            moved = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(name, $"cannot download to {target}: {e.Message}", e);
        }
        finally
        {
            if (!moved) TryDelete(temp);
        }
    }

    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct = default)
    {
        BlobNames.ValidatePrefix(Location, prefix);
        string folderPart = prefix[..(prefix.LastIndexOf('/') + 1)];
        string folder = folderPart.Length == 0 ? Root : Path.Combine(Root, folderPart.TrimEnd('/'));
        var items = new List<BlobItem>();
        if (Directory.Exists(folder))
        {
            var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
            foreach (FileInfo file in new DirectoryInfo(folder).EnumerateFiles("*", options))
            {
                ct.ThrowIfCancellationRequested();
                if (file.Name.StartsWith(BlobNames.TempPrefix, StringComparison.Ordinal)) continue;
                string relative = Path.GetRelativePath(Root, file.FullName);
                if (Path.DirectorySeparatorChar != '/')
                {
                    if (relative.Contains('/')) continue; // not addressable as a blob name here
                    relative = relative.Replace(Path.DirectorySeparatorChar, '/');
                }
                if (!relative.StartsWith(prefix, StringComparison.Ordinal) || BlobNames.Problem(relative) != null) continue;
                long size;
                try { size = file.Length; } catch (FileNotFoundException) { continue; } // deleted meanwhile
                items.Add(new BlobItem(relative, size));
            }
        }
        items.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var item in items)
        {
            ct.ThrowIfCancellationRequested();
            yield return item;
        }
        await Task.CompletedTask;
    }

    public Task<bool> DeleteAsync(string name, CancellationToken ct = default)
    {
        string path = PathOf(name);
        try
        {
            if (!File.Exists(path)) return Task.FromResult(false);
            File.Delete(path); // no error when a concurrent delete won
            return Task.FromResult(true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(name, "cannot delete the blob", e);
        }
    }

    public string? LocalPath(string name) => PathOf(name);

    string PathOf(string name)
    {
        BlobNames.Validate(Location, name);
        return Path.Combine(Root, Path.DirectorySeparatorChar == '/' ? name : name.Replace('/', Path.DirectorySeparatorChar));
    }

    Microsoft.Win32.SafeHandles.SafeFileHandle OpenForRead(string name)
    {
        string path = PathOf(name);
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException || (e is UnauthorizedAccessException && Directory.Exists(path)))
        {
            throw new BlobNotFoundException(Location, name, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(name, "cannot open the blob", e);
        }
    }

    /// <summary>
    /// Copies <paramref name="content"/> into a flushed temp file next to <paramref name="path"/>. Failures of
    /// the source stream pass through as they are; failures of the file become <see cref="BlobStoreException"/>.
    /// </summary>
    async Task<string> WriteTempAsync(string name, string path, Stream content, CancellationToken ct)
    {
        string temp = Path.Combine(Path.GetDirectoryName(path)!, BlobNames.TempPrefix + Guid.NewGuid().ToString("N"));
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        FileStream? file = null;
        bool done = false;
        try
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Wrap(name, "cannot write the blob", e);
            }
            while (true)
            {
                int n = await content.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct);
                if (n == 0) break;
                try
                {
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw Wrap(name, "cannot write the blob", e);
                }
            }
            try
            {
                file.Flush(flushToDisk: true);
                await file.DisposeAsync();
                file = null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Wrap(name, "cannot write the blob", e);
            }
            done = true;
            return temp;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (file != null) await file.DisposeAsync();
            if (!done) TryDelete(temp);
        }
    }

    /// <summary>Links <paramref name="temp"/> to <paramref name="path"/> unless the name exists; true when it was created.</summary>
    bool Publish(string name, string temp, string path)
    {
        if (!OperatingSystem.IsWindows())
        {
            if (Link(temp, path) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EEXIST)
            {
                if (Directory.Exists(path)) throw Wrap(name, "cannot create the blob", new IOException("a folder has this name"));
                return false;
            }
            // No hard links on this file system (EPERM, ENOTSUP, …): fall back to a non-replacing move below.
        }
        try
        {
            File.Move(temp, path, overwrite: false); // MoveFileEx without REPLACE_EXISTING on Windows: atomic
            return true;
        }
        catch (IOException) when (File.Exists(path) && !Directory.Exists(path))
        {
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(name, "cannot create the blob", e);
        }
    }

    BlobStoreException Wrap(string name, string problem, Exception e)
    {
        if (FolderConflict(name) is { } conflict) return new(Location, name, $"{problem}: {conflict}", e);
        return new(Location, name, problem.Contains(e.Message, StringComparison.Ordinal) ? problem : $"{problem}: {e.Message}", e);
    }

    /// <summary>Explains a failure caused by a name that is both a blob and a folder of blobs, which a file system cannot hold.</summary>
    string? FolderConflict(string name)
    {
        if (Directory.Exists(PathOf(name))) return $"'{name}/…' blobs exist, and a local folder cannot hold a blob '{name}' beside them";
        string[] segments = name.Split('/');
        for (int i = 1; i < segments.Length; i++)
        {
            string parent = string.Join('/', segments[..i]);
            if (File.Exists(PathOf(parent))) return $"blob '{parent}' exists, and a local folder cannot hold '{parent}/…' blobs beside it";
        }
        return null;
    }

    static string DownloadTempPath(string target) =>
        Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid().ToString("N")[..12]}.download");

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    const int EEXIST = 17; // same value on Linux and macOS

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);
}
