using Azure.Core;
using Azure.Storage;
using Azure.Storage.Blobs;

namespace SaeCluster.Grains;

/// <summary>
/// Tuning of <see cref="AzureBlobStore"/>: the Azure SDK's retry policy, transfer sizes and service version.
/// The defaults suit real Azure (they are the SDK's retry defaults, written out) and Azurite 3.35.
/// </summary>
public sealed record AzureBlobStoreOptions
{
    public const int MiB = 1 << 20;

    /// <summary>Retries after the first attempt of a request (HTTP 408, 429, 500, 502, 503, 504, connection errors, timeouts).</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>Wait before the first retry; it doubles with every retry (with jitter), up to <see cref="MaxDelay"/>.</summary>
    public TimeSpan Delay { get; init; } = TimeSpan.FromSeconds(0.8);

    /// <summary>Upper bound of one wait between retries.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Limit on one attempt's wait for an answer, and on each wait for the next bytes of a body.</summary>
    public TimeSpan NetworkTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// Blobs up to this size go up in one request; larger ones in blocks of <see cref="BlockSize"/>, committed
    /// at the end (the blob appears whole or not at all). Downloads fetch this much in their first request.
    /// </summary>
    public long SingleUploadThreshold { get; init; } = 8 * MiB;

    /// <summary>Size of one block of an upload, and of one range of a download (each buffered in memory).</summary>
    public long BlockSize { get; init; } = 8 * MiB;

    /// <summary>Blocks (or ranges) transferred at the same time for one blob.</summary>
    public int TransferConcurrency { get; init; } = 4;

    /// <summary>List Blobs page size (maxresults); null leaves it to the service (5000).</summary>
    public int? ListPageSize { get; init; }

    /// <summary>The REST API version sent with every request: 2025-11-05 is the newest Azurite 3.35 accepts (the SDK's default is newer).</summary>
    public BlobClientOptions.ServiceVersion ServiceVersion { get; init; } = BlobClientOptions.ServiceVersion.V2025_11_05;

    /// <summary>Throws <see cref="ArgumentException"/> for values that cannot work.</summary>
    public void Validate()
    {
        if (MaxRetries < 0) throw new ArgumentException($"MaxRetries must not be negative, not {MaxRetries}");
        if (Delay < TimeSpan.Zero || MaxDelay < TimeSpan.Zero) throw new ArgumentException("Delay and MaxDelay must not be negative");
        if (NetworkTimeout <= TimeSpan.Zero) throw new ArgumentException($"NetworkTimeout must be positive, not {NetworkTimeout}");
        if (SingleUploadThreshold is < 1 or > 1024L * MiB) throw new ArgumentException($"SingleUploadThreshold must be between 1 byte and 1024 MiB (a single upload is buffered in memory), not {SingleUploadThreshold}");
        if (BlockSize is < 1 or > 1024L * MiB) throw new ArgumentException($"BlockSize must be between 1 byte and 1024 MiB (each block is buffered in memory), not {BlockSize}");
        if (TransferConcurrency < 1) throw new ArgumentException($"TransferConcurrency must be at least 1, not {TransferConcurrency}");
        if (ListPageSize is < 1 or > 5000) throw new ArgumentException($"ListPageSize must be between 1 and 5000, not {ListPageSize}");
        if (!Enum.IsDefined(ServiceVersion)) throw new ArgumentException($"ServiceVersion {ServiceVersion} is not one this SDK knows");
    }

    internal BlobClientOptions ClientOptions()
    {
        var options = new BlobClientOptions(ServiceVersion) { TrimBlobNameSlashes = false };
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = MaxRetries;
        options.Retry.Delay = Delay;
        options.Retry.MaxDelay = MaxDelay;
        options.Retry.NetworkTimeout = NetworkTimeout;
        return options;
    }

    internal StorageTransferOptions TransferOptions() => new()
    {
        InitialTransferSize = SingleUploadThreshold,
        MaximumTransferSize = BlockSize,
        MaximumConcurrency = TransferConcurrency,
    };
}
