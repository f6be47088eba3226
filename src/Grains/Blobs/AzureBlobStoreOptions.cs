namespace SaeCluster.Grains;

/// <summary>Tuning of <see cref="AzureBlobStore"/>; the defaults suit real Azure.</summary>
public sealed record AzureBlobStoreOptions
{
    public const int MiB = 1 << 20;

    /// <summary>Retries and timeouts.</summary>
    public BlobRetryOptions Retry { get; init; } = new();

    /// <summary>Blobs up to this size go up in one Put Blob (buffered in memory); larger ones as blocks (Put Block + Put Block List).</summary>
    public long SingleUploadThreshold { get; init; } = 8 * MiB;

    /// <summary>Size of one block (each is buffered in memory, so it can be re-sent on a retry).</summary>
    public int BlockSize { get; init; } = 8 * MiB;

    /// <summary>Blocks uploaded at the same time (memory: this many block buffers).</summary>
    public int UploadParallelism { get; init; } = 4;

    /// <summary>List Blobs page size (maxresults); null leaves it to the service (5000).</summary>
    public int? ListPageSize { get; init; }

    /// <summary>The x-ms-version sent with every request.</summary>
    public string ApiVersion { get; init; } = "2021-08-06";

    /// <summary>Throws <see cref="ArgumentException"/> for values that cannot work.</summary>
    public void Validate()
    {
        Retry.Validate();
        if (SingleUploadThreshold is < 0 or > 1024L * MiB) throw new ArgumentException($"SingleUploadThreshold must be between 0 and 1024 MiB (a single upload is buffered in memory), not {SingleUploadThreshold}");
        if (BlockSize is < 1 or > 1024 * MiB) throw new ArgumentException($"BlockSize must be between 1 byte and 1024 MiB (each block is buffered in memory), not {BlockSize}");
        if (UploadParallelism < 1) throw new ArgumentException($"UploadParallelism must be at least 1, not {UploadParallelism}");
        if (ListPageSize is < 1 or > 5000) throw new ArgumentException($"ListPageSize must be between 1 and 5000, not {ListPageSize}");
    }
}
