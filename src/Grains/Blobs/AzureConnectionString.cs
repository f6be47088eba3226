namespace SaeCluster.Grains;

/// <summary>
/// The parts of an Azure Storage connection string that Shared Key access to the blob service needs.
/// Understood forms (keys are case-insensitive, unknown keys such as QueueEndpoint are ignored):
/// <list type="bullet">
/// <item><c>DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=core.windows.net</c>
/// (protocol defaults to https, suffix to core.windows.net)</item>
/// <item><c>BlobEndpoint=http://host:port/account;AccountName=…;AccountKey=…</c> (explicit endpoint)</item>
/// <item><c>UseDevelopmentStorage=true</c> (Azurite's devstoreaccount1 at http://127.0.0.1:10000), optionally with
/// <c>DevelopmentStorageProxyUri=http://host</c> to use another host on port 10000</item>
/// </list>
/// A bad string gives one <see cref="ArgumentException"/> naming the missing or bad key; the key itself is
/// never echoed.
/// </summary>
public sealed class AzureConnectionString
{
    /// <summary>Azurite's (and the old storage emulator's) fixed account.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    /// <summary>The well-known key of <see cref="DevelopmentAccountName"/> (public, documented by Microsoft).</summary>
    public const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    const string Prefix = "Azure connection string: ";

    AzureConnectionString(string accountName, byte[] accountKey, Uri blobEndpoint, bool development)
    {
        AccountName = accountName;
        AccountKey = accountKey;
        BlobEndpoint = blobEndpoint;
        IsDevelopmentStorage = development;
    }

    /// <summary>The storage account (signs every request).</summary>
    public string AccountName { get; }

    /// <summary>The decoded account key.</summary>
    internal byte[] AccountKey { get; }

    /// <summary>The blob service endpoint without a trailing '/', e.g. https://acct.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1.</summary>
    public Uri BlobEndpoint { get; }

    /// <summary>True for <c>UseDevelopmentStorage=true</c>.</summary>
    public bool IsDevelopmentStorage { get; }

    /// <summary>Whether <paramref name="text"/> looks like an Azure connection string rather than a path.</summary>
    public static bool LooksLikeConnectionString(string text) =>
        text.Contains("AccountName=", StringComparison.OrdinalIgnoreCase)
        || text.Contains("UseDevelopmentStorage=", StringComparison.OrdinalIgnoreCase)
        || text.Contains("BlobEndpoint=", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses a connection string; throws <see cref="ArgumentException"/> naming the missing or bad key.</summary>
    public static AzureConnectionString Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString)) throw new ArgumentException(Prefix + "it is empty");
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string[] parts = connectionString.Split(';');
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i].Trim();
            if (part.Length == 0) continue;
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new ArgumentException(Prefix + $"part {i + 1} is not Key=Value");
            string name = part[..eq].Trim();
            if (!values.TryAdd(name, part[(eq + 1)..].Trim())) throw new ArgumentException(Prefix + $"{name} is given twice");
        }

        if (values.TryGetValue("UseDevelopmentStorage", out string? dev))
        {
            if (!bool.TryParse(dev, out bool useDev)) throw new ArgumentException(Prefix + $"UseDevelopmentStorage must be true or false, not '{dev}'");
            if (useDev)
            {
                string host = "http://127.0.0.1";
                if (values.TryGetValue("DevelopmentStorageProxyUri", out string? proxy))
                {
                    if (!Uri.TryCreate(proxy, UriKind.Absolute, out Uri? proxyUri) || proxyUri.Scheme is not ("http" or "https"))
                        throw new ArgumentException(Prefix + $"DevelopmentStorageProxyUri '{proxy}' is not an http(s) URI");
                    host = $"{proxyUri.Scheme}://{proxyUri.Host}";
                }
                return new AzureConnectionString(DevelopmentAccountName, Convert.FromBase64String(DevelopmentAccountKey),
                    new Uri($"{host}:10000/{DevelopmentAccountName}"), development: true);
            }
        }

        if (values.ContainsKey("SharedAccessSignature") && !values.ContainsKey("AccountKey"))
            throw new ArgumentException(Prefix + "SharedAccessSignature is not supported; give AccountName and AccountKey (Shared Key authorization)");
        if (!values.TryGetValue("AccountName", out string? account) || account.Length == 0)
            throw new ArgumentException(Prefix + "AccountName is missing (Shared Key authorization needs AccountName and AccountKey)");
        if (!values.TryGetValue("AccountKey", out string? keyText) || keyText.Length == 0)
            throw new ArgumentException(Prefix + "AccountKey is missing (Shared Key authorization needs AccountName and AccountKey)");
        byte[] key;
        try
        {
            key = Convert.FromBase64String(keyText);
        }
        catch (FormatException)
        {
            throw new ArgumentException(Prefix + "AccountKey is not valid base64 (copy it from the storage account's Access keys)");
        }
        if (key.Length == 0) throw new ArgumentException(Prefix + "AccountKey is empty");

        Uri endpoint;
        if (values.TryGetValue("BlobEndpoint", out string? blobEndpoint))
        {
            if (!Uri.TryCreate(blobEndpoint, UriKind.Absolute, out Uri? parsed) || parsed.Scheme is not ("http" or "https") || parsed.Query.Length > 0)
                throw new ArgumentException(Prefix + $"BlobEndpoint '{blobEndpoint}' is not an http(s) URI without a query");
            endpoint = new Uri(parsed.GetLeftPart(UriPartial.Path).TrimEnd('/'));
        }
        else
        {
            string protocol = values.GetValueOrDefault("DefaultEndpointsProtocol", "https").ToLowerInvariant();
            if (protocol is not ("http" or "https"))
                throw new ArgumentException(Prefix + $"DefaultEndpointsProtocol must be http or https, not '{protocol}'");
            string suffix = values.GetValueOrDefault("EndpointSuffix", "core.windows.net").Trim('.');
            if (!Uri.TryCreate($"{protocol}://{account}.blob.{suffix}", UriKind.Absolute, out Uri? built))
                throw new ArgumentException(Prefix + $"AccountName '{account}' and EndpointSuffix '{suffix}' do not make a valid host name");
            endpoint = built;
        }
        return new AzureConnectionString(account, key, endpoint, development: false);
    }

    /// <summary>The endpoint and account, never the key.</summary>
    public override string ToString() => $"BlobEndpoint={BlobEndpoint};AccountName={AccountName};AccountKey=***";
}
