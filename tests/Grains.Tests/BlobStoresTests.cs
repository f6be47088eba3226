using SaeCluster.Grains;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// What is ours around the Azure SDK: which locations open which store, the endpoint and location a connection
/// string gives, and errors for bad strings that never show a key or a signature. (Parsing is the SDK's.)
/// </summary>
public sealed class BlobStoresTests
{
    static readonly string Key = Convert.ToBase64String(Enumerable.Range(0, 64).Select(i => (byte)i).ToArray());
    const string Signature = "sv=2025-11-05&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00%3A00%3A00Z&sig=SECRETSIGNATURE%3D";

    [Theory]
    [InlineData("UseDevelopmentStorage=true", true)]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k", true)]
    [InlineData("BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=x", true)]
    [InlineData("accountname=a;accountkey=k", true)]
    [InlineData("AccountKey=k", true)] // (then rejected by the SDK: a clear error, not a folder named so)
    [InlineData("SharedAccessSignature=sv=x", true)]
    [InlineData("/data/blobs", false)]
    [InlineData("relative/blobs", false)]
    [InlineData("file:///data/blobs", false)]
    [InlineData("https://example.com/x", false)]
    public void ConnectionStringsAreToldFromPaths(string location, bool azure) => Assert.Equal(azure, BlobStores.IsAzureConnectionString(location));

    [Fact]
    public void OpenPicksTheStoreFromTheLocation()
    {
        using var temp = new TempDir();
        var local = Assert.IsType<LocalBlobStore>(BlobStores.Open(temp.Path));
        Assert.Equal(temp.Path, local.Root);
        Assert.Equal(temp["blobs"], Assert.IsType<LocalBlobStore>(BlobStores.Open(temp.Path, "blobs")).Root);
        Assert.Equal(temp.Path, Assert.IsType<LocalBlobStore>(BlobStores.Open(new Uri(temp.Path).AbsoluteUri)).Root);

        var azure = Assert.IsType<AzureBlobStore>(BlobStores.Open(" UseDevelopmentStorage=true ", "shards"));
        Assert.Equal("azure://devstoreaccount1/shards", azure.Location);
        Assert.Equal("shards", azure.Container);
        Assert.IsType<AzureBlobStore>(BlobStores.Open($"AccountName=a;AccountKey={Key}", "c-1"));
        Assert.IsType<AzureBlobStore>(BlobStores.Open($"BlobEndpoint=http://h:1/a;AccountName=a;AccountKey={Key}", "abc"));

        Assert.Contains("needs a container", Assert.Throws<ArgumentException>(() => BlobStores.Open("UseDevelopmentStorage=true")).Message);
        Assert.Contains("container name 'Bad_Name' is invalid", Assert.Throws<ArgumentException>(() => BlobStores.Open("UseDevelopmentStorage=true", "Bad_Name")).Message);
        Assert.Contains("neither a folder path", Assert.Throws<ArgumentException>(() => BlobStores.Open("https://example.com/x")).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => BlobStores.Open(" ")).Message);
    }

    [Fact]
    public void DevelopmentStorageIsAzuriteOnItsWellKnownPort()
    {
        var store = new AzureBlobStore("UseDevelopmentStorage=true", "abc");
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1", store.BlobEndpoint);
        Assert.Equal("azure://devstoreaccount1/abc", store.Location);
        Assert.Null(store.LocalPath("x"));
        var proxied = new AzureBlobStore("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite.local", "abc");
        Assert.Equal("http://azurite.local:10000/devstoreaccount1", proxied.BlobEndpoint);
    }

    [Fact]
    public void TheConnectionStringGivesEndpointAndAccount()
    {
        var suffix = new AzureBlobStore($"DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey={Key};EndpointSuffix=core.chinacloudapi.cn", "c-1");
        Assert.Equal("https://myacct.blob.core.chinacloudapi.cn", suffix.BlobEndpoint);
        Assert.Equal("azure://myacct/c-1", suffix.Location);
        Assert.Equal("https://other.blob.core.windows.net", new AzureBlobStore($"accountname=other;ACCOUNTKEY={Key};", "c-1").BlobEndpoint); // keys in any case

        var explicitEndpoint = new AzureBlobStore($"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Key};BlobEndpoint=http://127.0.0.1:12345/devstoreaccount1/;QueueEndpoint=http://127.0.0.1:1/x", "c-1");
        Assert.Equal("http://127.0.0.1:12345/devstoreaccount1", explicitEndpoint.BlobEndpoint);

        // a shared access signature: the account comes from the endpoint, and the signature stays out of what is shown
        var sas = new AzureBlobStore($"BlobEndpoint=https://sasacct.blob.core.windows.net/;SharedAccessSignature={Signature}", "c-1");
        Assert.Equal("https://sasacct.blob.core.windows.net", sas.BlobEndpoint);
        Assert.Equal("azure://sasacct/c-1", sas.Location);
        var ipStyle = new AzureBlobStore($"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=?{Signature}", "c-1");
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1", ipStyle.BlobEndpoint);
        Assert.Equal("azure://devstoreaccount1/c-1", ipStyle.Location);
    }

    [Theory]
    [InlineData("AccountName=acct", "not valid")]
    [InlineData("AccountKey=KEY", "not valid")]
    [InlineData("AccountName=acct;AccountKey=not*base64!", "not valid")]
    [InlineData(" AccountName=acct ;AccountKey=KEY", "no spaces around")]
    [InlineData("AccountName=acct;AccountName=b;AccountKey=KEY", "Duplicate setting 'AccountName'")]
    [InlineData("AccountName=acct;junk;AccountKey=KEY", "name=value")]
    [InlineData("UseDevelopmentStorage=yes", "not valid")]
    [InlineData("AccountName=acct;AccountKey=KEY;BlobEndpoint=not a uri", "not valid")]
    [InlineData("AccountName=acct;AccountKey=KEY;BlobEndpoint=ftp://x", "is not http(s)")]
    [InlineData("BlobEndpoint=http://h:1/a", "gives no credentials")]
    [InlineData("BlobEndpoint=http://h:1/a;SharedAccessSignature=SAS;junk", "name=value")]
    [InlineData("AccountName=acct;AccountKey=KEY;SharedAccessSignature=SAS;AccountKey=KEY", "Duplicate setting 'AccountKey'")]
    public void BadStringsAreOneClearErrorWithoutSecrets(string text, string expected)
    {
        string connectionString = text.Replace("KEY", Key).Replace("SAS", Signature);
        var e = Assert.Throws<ArgumentException>(() => new AzureBlobStore(connectionString, "abc"));
        Assert.StartsWith("Azure connection string '", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain(Key, e.Message);
        Assert.DoesNotContain("SECRETSIGNATURE", e.Message);
        Assert.DoesNotContain("not*base64", e.Message);
        if (text.Contains("AccountKey=", StringComparison.Ordinal)) Assert.Contains("AccountKey=***", e.Message);
        Assert.Null(e.InnerException);
        // the same through BlobStores.Open
        Assert.Equal(e.Message, Assert.Throws<ArgumentException>(() => BlobStores.Open(connectionString, "abc")).Message);
    }

    [Theory]
    [InlineData("ab", "3 to 63")]
    [InlineData("Upper", "lowercase")]
    [InlineData("-abc", "start and end")]
    [InlineData("a--b", "'--'")]
    public void ContainerNamesAreChecked(string container, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => new AzureBlobStore("UseDevelopmentStorage=true", container));
        Assert.Contains($"Azure container name '{container}' is invalid", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void OptionsThatCannotWorkAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new AzureBlobStore("UseDevelopmentStorage=true", "abc", new AzureBlobStoreOptions { BlockSize = 0 }));
        Assert.Throws<ArgumentException>(() => new AzureBlobStore("UseDevelopmentStorage=true", "abc", new AzureBlobStoreOptions { MaxRetries = -1 }));
        Assert.Throws<ArgumentException>(() => new AzureBlobStore("UseDevelopmentStorage=true", "abc", new AzureBlobStoreOptions { NetworkTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => new AzureBlobStore("UseDevelopmentStorage=true", "abc", new AzureBlobStoreOptions { TransferConcurrency = 0 }));
        Assert.Throws<ArgumentException>(() => new AzureBlobStore("UseDevelopmentStorage=true", "abc", new AzureBlobStoreOptions { ListPageSize = 0 }));
        new AzureBlobStoreOptions().Validate();
    }
}
