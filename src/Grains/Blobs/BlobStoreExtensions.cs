namespace SaeCluster.Grains;

/// <summary>Operations over many blobs, or whole small blobs, built on <see cref="IBlobStore"/>.</summary>
public static class BlobStoreExtensions
{
    /// <summary>Deletes every blob under <paramref name="prefix"/> (listed first, then deleted); returns how many.</summary>
    public static async Task<int> DeletePrefixAsync(this IBlobStore blobs, string prefix, CancellationToken ct = default)
    {
        var names = new List<string>();
        await foreach (var b in blobs.ListAsync(prefix, ct)) names.Add(b.Name);
        foreach (var name in names) await blobs.DeleteAsync(name, ct);
        return names.Count;
    }

    /// <summary>The whole content of a small blob; <see cref="BlobNotFoundException"/> when it does not exist.</summary>
    public static async Task<byte[]> ReadAllAsync(this IBlobStore blobs, string name, CancellationToken ct = default)
    {
        long size = await blobs.GetSizeAsync(name, ct) ?? throw new BlobNotFoundException(blobs.Location, name);
        if (size > int.MaxValue) throw new BlobStoreException(blobs.Location, name, $"is {size:N0} bytes, too large to read whole");
        var buffer = new byte[size];
        int n = await blobs.ReadRangeAsync(name, 0, buffer, ct);
        return n == buffer.Length ? buffer : buffer[..n];
    }

    /// <summary>Uploads every file under <paramref name="folder"/> as <c>{prefix}{relative path}</c>, in ordinal order.</summary>
    public static async Task UploadFolderAsync(this IBlobStore blobs, string folder, string prefix, CancellationToken ct = default)
    {
        foreach (var file in Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(folder, file).Replace('\\', '/');
            await using var f = File.OpenRead(file);
            await blobs.PutAsync(prefix + rel, f, ct);
        }
    }

    /// <summary>Downloads every blob under <paramref name="prefix"/> into <paramref name="folder"/>; returns how many.</summary>
    public static async Task<int> DownloadPrefixAsync(this IBlobStore blobs, string prefix, string folder, CancellationToken ct = default)
    {
        var names = new List<string>();
        await foreach (var b in blobs.ListAsync(prefix, ct)) names.Add(b.Name);
        foreach (string name in names)
        {
            string path = Path.Combine(folder, name[prefix.Length..]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await blobs.DownloadToFileAsync(name, path, ct);
        }
        return names.Count;
    }
}
