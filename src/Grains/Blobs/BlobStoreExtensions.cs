namespace SaeCluster.Grains;

/// <summary>Operations over many blobs, built on <see cref="IBlobStore"/>.</summary>
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
}
