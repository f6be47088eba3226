namespace SaeCluster.Grains;

/// <summary>
/// Durable blob storage for shards, checkpoints and results: a flat namespace of names with '/' as a
/// folder separator. Implementations: a local directory (embedded default) and Azure Blob Storage (through
/// Azure.Storage.Blobs). Every write is atomic: a reader sees the whole old blob, the whole new blob, or none.
/// Errors a user can cause (unreachable store, bad credentials) surface as <see cref="BlobStoreException"/>
/// naming the store and the blob.
/// </summary>
public interface IBlobStore
{
    /// <summary>Where the store is, for messages: a folder path or "azure://account/container".</summary>
    string Location { get; }

    /// <summary>Creates the container / root folder if missing; fails with a clear error if the store is unreachable.</summary>
    Task InitializeAsync(CancellationToken ct = default);

    /// <summary>Writes <paramref name="name"/> only if it does not exist yet (write-once); false, and nothing written, when it does.</summary>
    Task<bool> TryCreateAsync(string name, Stream content, CancellationToken ct = default);

    /// <summary>Creates or replaces <paramref name="name"/> atomically.</summary>
    Task PutAsync(string name, Stream content, CancellationToken ct = default);

    /// <summary>Size of the blob, or null when it does not exist.</summary>
    Task<long?> GetSizeAsync(string name, CancellationToken ct = default);

    /// <summary>Reads <paramref name="buffer"/>.Length bytes at <paramref name="offset"/> (fewer only at the end); throws <see cref="BlobNotFoundException"/> when missing.</summary>
    Task<int> ReadRangeAsync(string name, long offset, Memory<byte> buffer, CancellationToken ct = default);

    /// <summary>Downloads the whole blob to <paramref name="path"/> (temp file, then rename); throws <see cref="BlobNotFoundException"/> when missing.</summary>
    Task DownloadToFileAsync(string name, string path, CancellationToken ct = default);

    /// <summary>Names (and sizes) of the blobs whose name starts with <paramref name="prefix"/>, in ordinal order.</summary>
    IAsyncEnumerable<BlobItem> ListAsync(string prefix, CancellationToken ct = default);

    /// <summary>Deletes a blob; false when it did not exist.</summary>
    Task<bool> DeleteAsync(string name, CancellationToken ct = default);

    /// <summary>The file holding the blob when the store is a local directory (readers may map it directly); null otherwise.</summary>
    string? LocalPath(string name);
}

/// <summary>One blob in a listing.</summary>
public readonly record struct BlobItem(string Name, long Size);
