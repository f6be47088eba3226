namespace SaeCluster.Grains;

/// <summary>Opens the blob store a configuration names.</summary>
public static class BlobStores
{
    /// <summary>
    /// A folder path or <c>file:</c> URI gives a <see cref="LocalBlobStore"/> (with <paramref name="container"/>,
    /// if given, as a subfolder); an Azure connection string (see <see cref="IsAzureConnectionString"/>) gives an
    /// <see cref="AzureBlobStore"/> on <paramref name="container"/>, which it then requires.
    /// Throws <see cref="ArgumentException"/> with one clear message for anything else.
    /// </summary>
    public static IBlobStore Open(string location, string? container = null, AzureBlobStoreOptions? azureOptions = null)
    {
        if (string.IsNullOrWhiteSpace(location)) throw new ArgumentException("blob store location is empty: give a folder path, a file: URI or an Azure connection string");
        location = location.Trim();
        if (IsAzureConnectionString(location))
        {
            if (string.IsNullOrWhiteSpace(container))
                throw new ArgumentException("an Azure blob store needs a container name besides the connection string");
            return new AzureBlobStore(location, container, azureOptions);
        }
        string folder = location;
        if (location.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(location, UriKind.Absolute, out Uri? uri) || !uri.IsFile)
                throw new ArgumentException($"blob store location '{location}' is not a valid file: URI");
            folder = uri.LocalPath;
        }
        else if (location.Contains("://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"blob store location '{location}' is neither a folder path, a file: URI nor an Azure connection string (AccountName=…;AccountKey=…, BlobEndpoint=…;SharedAccessSignature=…, UseDevelopmentStorage=true)");
        }
        if (!string.IsNullOrWhiteSpace(container))
        {
            if (BlobNames.Problem(container) is { } problem) throw new ArgumentException($"container '{container}' is not a valid folder name: {problem}");
            folder = Path.Combine(folder, container);
        }
        return new LocalBlobStore(folder);
    }

    /// <summary>
    /// Whether <paramref name="location"/> is an Azure Storage connection string rather than a path: it names
    /// AccountName=, AccountKey=, BlobEndpoint=, SharedAccessSignature= or UseDevelopmentStorage= (in any case,
    /// as the SDK that then parses it).
    /// </summary>
    public static bool IsAzureConnectionString(string location) =>
        ConnectionStringKeys.Any(key => location.Contains(key, StringComparison.OrdinalIgnoreCase));

    static readonly string[] ConnectionStringKeys = ["AccountName=", "AccountKey=", "BlobEndpoint=", "SharedAccessSignature=", "UseDevelopmentStorage="];
}
