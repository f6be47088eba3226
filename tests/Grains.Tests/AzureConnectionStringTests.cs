using SaeCluster.Grains;

namespace SaeCluster.Grains.Tests;

public sealed class AzureConnectionStringTests
{
    static readonly string Key = Convert.ToBase64String(Enumerable.Range(0, 64).Select(i => (byte)i).ToArray());

    [Fact]
    public void DevelopmentStorageIsAzuritesWellKnownAccount()
    {
        var c = AzureConnectionString.Parse("UseDevelopmentStorage=true");
        Assert.True(c.IsDevelopmentStorage);
        Assert.Equal("devstoreaccount1", c.AccountName);
        Assert.Equal(new Uri("http://127.0.0.1:10000/devstoreaccount1"), c.BlobEndpoint);
        Assert.Equal(Convert.FromBase64String(AzureConnectionString.DevelopmentAccountKey), c.AccountKey);

        var proxied = AzureConnectionString.Parse("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite.local");
        Assert.Equal(new Uri("http://azurite.local:10000/devstoreaccount1"), proxied.BlobEndpoint);
    }

    [Fact]
    public void AccountAndSuffixMakeTheEndpoint()
    {
        var c = AzureConnectionString.Parse($"DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey={Key};EndpointSuffix=core.chinacloudapi.cn");
        Assert.Equal(new Uri("https://myacct.blob.core.chinacloudapi.cn"), c.BlobEndpoint);
        Assert.Equal("myacct", c.AccountName);
        Assert.False(c.IsDevelopmentStorage);
        // defaults: https and the public cloud; keys are case-insensitive, stray ';' and spaces are fine
        var d = AzureConnectionString.Parse($" accountname=other ; ACCOUNTKEY={Key};;");
        Assert.Equal(new Uri("https://other.blob.core.windows.net"), d.BlobEndpoint);
    }

    [Fact]
    public void AnExplicitBlobEndpointWins()
    {
        var c = AzureConnectionString.Parse($"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Key};BlobEndpoint=http://127.0.0.1:12345/devstoreaccount1/;QueueEndpoint=http://127.0.0.1:1/x");
        Assert.Equal("http://127.0.0.1:12345/devstoreaccount1", c.BlobEndpoint.ToString());
        Assert.Equal(Convert.FromBase64String(Key), c.AccountKey);
        Assert.DoesNotContain(Key, c.ToString());
    }

    [Theory]
    [InlineData("AccountName=acct", "AccountKey is missing")]
    [InlineData("AccountName=acct;AccountKey=", "AccountKey is missing")]
    [InlineData("AccountKey=KEY", "AccountName is missing")]
    [InlineData("AccountName=acct;AccountKey=not*base64!", "AccountKey is not valid base64")]
    [InlineData("AccountName=acct;AccountKey=KEY;BlobEndpoint=ftp://x", "BlobEndpoint 'ftp://x' is not an http(s) URI")]
    [InlineData("AccountName=acct;AccountKey=KEY;BlobEndpoint=not a uri", "BlobEndpoint")]
    [InlineData("AccountName=acct;AccountKey=KEY;DefaultEndpointsProtocol=ftp", "DefaultEndpointsProtocol must be http or https")]
    [InlineData("AccountName=acct;AccountName=b;AccountKey=KEY", "AccountName is given twice")]
    [InlineData("AccountName=acct;junk;AccountKey=KEY", "part 2 is not Key=Value")]
    [InlineData("UseDevelopmentStorage=yes", "UseDevelopmentStorage must be true or false")]
    [InlineData("AccountName=acct;SharedAccessSignature=sv=2021", "SharedAccessSignature is not supported")]
    [InlineData("", "empty")]
    public void BadStringsNameTheKey(string text, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => AzureConnectionString.Parse(text.Replace("KEY", Key)));
        Assert.StartsWith("Azure connection string: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain(Key, e.Message);
        Assert.DoesNotContain("not*base64", e.Message);
    }

    [Fact]
    public void OpenPicksTheStoreFromTheLocation()
    {
        using var temp = new TempDir();
        var local = Assert.IsType<LocalBlobStore>(BlobStores.Open(temp.Path));
        Assert.Equal(temp.Path, local.Root);
        Assert.Equal(temp["blobs"], Assert.IsType<LocalBlobStore>(BlobStores.Open(temp.Path, "blobs")).Root);
        Assert.Equal(temp.Path, Assert.IsType<LocalBlobStore>(BlobStores.Open(new Uri(temp.Path).AbsoluteUri)).Root);

        var azure = Assert.IsType<AzureBlobStore>(BlobStores.Open("UseDevelopmentStorage=true", "shards"));
        Assert.Equal("azure://devstoreaccount1/shards", azure.Location);
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1", azure.Endpoint);
        Assert.IsType<AzureBlobStore>(BlobStores.Open($"AccountName=a;AccountKey={Key}", "c-1"));
        Assert.IsType<AzureBlobStore>(BlobStores.Open($"BlobEndpoint=http://h:1/a;AccountName=a;AccountKey={Key}", "abc"));

        Assert.Contains("needs a container", Assert.Throws<ArgumentException>(() => BlobStores.Open("UseDevelopmentStorage=true")).Message);
        Assert.Contains("AccountKey is missing", Assert.Throws<ArgumentException>(() => BlobStores.Open("AccountName=a", "c-1")).Message);
        Assert.Contains("container name 'Bad_Name' is invalid", Assert.Throws<ArgumentException>(() => BlobStores.Open("UseDevelopmentStorage=true", "Bad_Name")).Message);
        Assert.Contains("neither a folder path", Assert.Throws<ArgumentException>(() => BlobStores.Open("https://example.com/x")).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => BlobStores.Open(" ")).Message);
    }

    [Fact]
    public void RetryDelaysGrowWithJitterUpToTheCap()
    {
        var retry = new BlobRetryOptions { BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(1) };
        for (int i = 0; i < 50; i++)
        {
            Assert.InRange(retry.DelayAfter(1).TotalMilliseconds, 50, 100);
            Assert.InRange(retry.DelayAfter(3).TotalMilliseconds, 200, 400);
            Assert.InRange(retry.DelayAfter(40).TotalMilliseconds, 500, 1000);
        }
        Assert.Throws<ArgumentException>(() => new BlobRetryOptions { MaxAttempts = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new AzureBlobStore("UseDevelopmentStorage=true", "abc", new AzureBlobStoreOptions { BlockSize = 0 }));
    }
}
