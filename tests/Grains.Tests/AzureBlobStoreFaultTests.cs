using System.Diagnostics;
using SaeCluster.Grains;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// <see cref="AzureBlobStore"/> against Azurite behind <see cref="FaultProxy"/>: transient failures are retried
/// (with bodies re-sent and downloads resumed), persistent ones end in a clear <see cref="BlobStoreException"/>
/// within a bounded time, as do bad keys and unreachable endpoints.
/// </summary>
public sealed class AzureBlobStoreFaultTests(AzuriteServer azurite) : IClassFixture<AzuriteServer>, IDisposable
{
    readonly TempDir _temp = new();

    /// <summary>Quick retries so that the tests stay short.</summary>
    static readonly BlobRetryOptions FastRetry = new()
    {
        MaxAttempts = 5,
        AttemptTimeout = TimeSpan.FromSeconds(10),
        BaseDelay = TimeSpan.FromMilliseconds(10),
        MaxDelay = TimeSpan.FromMilliseconds(100),
    };

    public void Dispose() => _temp.Dispose();

    static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A container created directly (not through the proxy), and a store on it through <paramref name="proxy"/>.</summary>
    async Task<AzureBlobStore> StoreAsync(FaultProxy proxy, AzureBlobStoreOptions? options = null)
    {
        string container = "f" + Guid.NewGuid().ToString("N");
        await new AzureBlobStore(azurite.ConnectionString, container).InitializeAsync();
        return new AzureBlobStore(AzuriteServer.ConnectionStringFor(proxy.BlobEndpoint), container, options ?? new AzureBlobStoreOptions { Retry = FastRetry });
    }

    static async Task<byte[]> ReadAllAsync(IBlobStore store, string name)
    {
        var buffer = new byte[(await store.GetSizeAsync(name))!.Value];
        Assert.Equal(buffer.Length, await store.ReadRangeAsync(name, 0, buffer));
        return buffer;
    }

    [Theory]
    [InlineData(ProxyFault.ServiceUnavailable)]
    [InlineData(ProxyFault.Drop)]
    [InlineData(ProxyFault.Truncate)]
    public async Task TransientFailuresAreRetried(ProxyFault fault)
    {
        // Every other request fails, 8 times: each operation below meets at least one failure.
        await using var proxy = new FaultProxy(azurite.Port, r => r.Index % 2 == 0 && r.Index < 16 ? fault : ProxyFault.None) { TruncateAfter = 100 };
        var store = await StoreAsync(proxy);
        await store.InitializeAsync();
        Assert.True(await store.TryCreateAsync("a/b", new MemoryStream(Bytes(3000, 1))));
        Assert.False(await store.TryCreateAsync("a/b", new MemoryStream(Bytes(10, 2))));
        await store.PutAsync("a/c", new MemoryStream(Bytes(2000, 3)));
        Assert.Equal(3000, await store.GetSizeAsync("a/b"));
        Assert.Equal(Bytes(3000, 1), await ReadAllAsync(store, "a/b"));
        var listed = new List<string>();
        await foreach (var item in store.ListAsync("a/")) listed.Add(item.Name);
        Assert.Equal(["a/b", "a/c"], listed);
        await store.DownloadToFileAsync("a/c", _temp["c.bin"]);
        Assert.Equal(Bytes(2000, 3), await File.ReadAllBytesAsync(_temp["c.bin"]));
        Assert.True(await store.DeleteAsync("a/c"));
        Assert.True(proxy.Requests.Count >= 16);
    }

    [Fact]
    public async Task StalledAnswersTimeOutAndAreRetried()
    {
        await using var proxy = new FaultProxy(azurite.Port, FaultProxy.First(2, ProxyFault.Stall));
        var store = await StoreAsync(proxy, new AzureBlobStoreOptions { Retry = FastRetry with { AttemptTimeout = TimeSpan.FromMilliseconds(500) } });
        var clock = Stopwatch.StartNew();
        await store.PutAsync("slow", new MemoryStream(Bytes(100, 1)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.True(proxy.Requests.Count >= 3); // two stalled, then through (more only if the machine is very slow)
        Assert.Equal(Bytes(100, 1), await ReadAllAsync(store, "slow"));
    }

    [Fact]
    public async Task BlocksAreReSentWhenTheirUploadFails()
    {
        // Fails the first attempt of each block (and of the commit), in every way.
        ProxyFault[] faults = [ProxyFault.ServiceUnavailable, ProxyFault.Drop, ProxyFault.LoseAnswer];
        var seen = new HashSet<string>();
        await using var proxy = new FaultProxy(azurite.Port, r =>
        {
            if (r.Method != "PUT") return ProxyFault.None;
            lock (seen) return seen.Add(r.Target) ? faults[seen.Count % faults.Length] : ProxyFault.None;
        });
        var options = new AzureBlobStoreOptions { Retry = FastRetry, SingleUploadThreshold = 1 << 20, BlockSize = 1 << 20, UploadParallelism = 2 };
        var store = await StoreAsync(proxy, options);
        byte[] data = Bytes(3 * (1 << 20) + 777, 5);
        Assert.True(await store.TryCreateAsync("big", new MemoryStream(data)));
        Assert.Equal(data, await ReadAllAsync(store, "big"));
        Assert.Equal(4, proxy.Requests.Count(r => r.Target.Contains("comp=block&")) / 2);
    }

    [Fact]
    public async Task ACreateWhoseAnswerWasLostStillCountsAsOurs()
    {
        await using var proxy = new FaultProxy(azurite.Port, r => r.Method == "PUT" && r.Index == 0 ? ProxyFault.LoseAnswer : ProxyFault.None);
        var store = await StoreAsync(proxy);
        Assert.True(await store.TryCreateAsync("mine", new MemoryStream(Bytes(50, 1)))); // the retry meets 409: the id says it is ours
        Assert.Equal(2, proxy.Requests.Count(r => r.Method == "PUT"));
        Assert.False(await store.TryCreateAsync("mine", new MemoryStream(Bytes(50, 2))));
        Assert.Equal(Bytes(50, 1), await ReadAllAsync(store, "mine"));
    }

    [Fact]
    public async Task ABrokenDownloadResumesWhereItStopped()
    {
        await using var proxy = new FaultProxy(azurite.Port, r => r.Method == "GET" && r.Index < 3 ? ProxyFault.Truncate : ProxyFault.None) { TruncateAfter = 1 << 20 };
        var store = await StoreAsync(proxy);
        byte[] data = Bytes(3 * (1 << 20) + 5, 9);
        await new AzureBlobStore(azurite.ConnectionString, store.Container).PutAsync("d", new MemoryStream(data));
        await store.DownloadToFileAsync("d", _temp["d.bin"]);
        Assert.Equal(data, await File.ReadAllBytesAsync(_temp["d.bin"]));
        Assert.Equal(4, proxy.Requests.Count);
        Assert.False(proxy.Requests[0].HasHeader("x-ms-range"));
        Assert.All(proxy.Requests.Skip(1), r => Assert.True(r.HasHeader("x-ms-range") && r.HasHeader("If-Match")));
        Assert.Equal([_temp["d.bin"]], Directory.EnumerateFileSystemEntries(_temp.Path));
    }

    [Fact]
    public async Task ADownloadThatKeepsFailingLeavesNoTempFile()
    {
        await using var proxy = new FaultProxy(azurite.Port, r => r.Method == "GET" ? ProxyFault.Drop : ProxyFault.None);
        var store = await StoreAsync(proxy, new AzureBlobStoreOptions { Retry = FastRetry with { MaxAttempts = 3 } });
        await new AzureBlobStore(azurite.ConnectionString, store.Container).PutAsync("d", new MemoryStream(Bytes(1000, 1)));
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.DownloadToFileAsync("d", _temp["d.bin"]));
        Assert.Contains("3 attempts", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_temp.Path));
    }

    [Theory]
    [InlineData(ProxyFault.ServiceUnavailable, "503")]
    [InlineData(ProxyFault.Drop, "connection")]
    [InlineData(ProxyFault.Stall, "no answer")]
    public async Task PersistentFailuresGiveUpAfterTheConfiguredAttempts(ProxyFault fault, string expected)
    {
        await using var proxy = new FaultProxy(azurite.Port, _ => fault);
        var retry = FastRetry with { MaxAttempts = 3, AttemptTimeout = TimeSpan.FromMilliseconds(300) };
        var store = await StoreAsync(proxy, new AzureBlobStoreOptions { Retry = retry });
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.PutAsync("x", new MemoryStream(Bytes(10, 1))));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal(3, proxy.Requests.Count);
        Assert.Contains(expected, e.Message);
        Assert.Contains(proxy.BlobEndpoint, e.Message);
        Assert.Contains("3 attempts", e.Message);
        Assert.Equal("x", e.Blob);
    }

    [Fact]
    public async Task ListingsFollowMarkersAcrossPages()
    {
        await using var proxy = new FaultProxy(azurite.Port, _ => ProxyFault.None);
        var store = await StoreAsync(proxy, new AzureBlobStoreOptions { Retry = FastRetry, ListPageSize = 3 });
        for (int i = 0; i < 10; i++) await store.PutAsync($"p/{i:D2}", new MemoryStream(Bytes(i, i)));
        await store.PutAsync("q/other", new MemoryStream([1]));
        var listed = new List<BlobItem>();
        await foreach (var item in store.ListAsync("p/")) listed.Add(item);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => new BlobItem($"p/{i:D2}", i)), listed);
        var lists = proxy.Requests.Where(r => r.Target.Contains("comp=list")).ToList();
        Assert.Equal(4, lists.Count);
        Assert.All(lists.Skip(1), r => Assert.Contains("marker=", r.Target));
    }

    [Fact]
    public async Task AWrongAccountKeyIsOneClearError()
    {
        string wrongKey = Convert.ToBase64String(Bytes(64, 1));
        await using var proxy = new FaultProxy(azurite.Port, _ => ProxyFault.None);
        var store = new AzureBlobStore(AzuriteServer.ConnectionStringFor(proxy.BlobEndpoint, wrongKey), "any", new AzureBlobStoreOptions { Retry = FastRetry });
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.InitializeAsync());
        Assert.Contains("authentication failed", e.Message);
        Assert.Contains("AccountKey", e.Message);
        Assert.Contains("403", e.Message);
        Assert.DoesNotContain(wrongKey, e.Message);
        Assert.Single(proxy.Requests); // 403 is not retried
    }

    [Fact]
    public async Task AnUnreachableEndpointIsNamed()
    {
        int closed = LoopbackPorts.Free();
        string endpoint = $"http://127.0.0.1:{closed}/devstoreaccount1";
        var store = new AzureBlobStore(AzuriteServer.ConnectionStringFor(endpoint), "any", new AzureBlobStoreOptions { Retry = FastRetry with { MaxAttempts = 2 } });
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.InitializeAsync());
        Assert.Contains($"cannot reach the blob service at {endpoint}", e.Message);
        Assert.Contains("2 attempts", e.Message);
        Assert.StartsWith("azure://devstoreaccount1/any:", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task OperationsRideOutAServerRestart()
    {
        var options = new AzureBlobStoreOptions { Retry = FastRetry with { MaxAttempts = 30, BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(200) } };
        var store = new AzureBlobStore(azurite.ConnectionString, "restart", options);
        await store.InitializeAsync();
        await store.PutAsync("before", new MemoryStream(Bytes(500, 1)));
        azurite.Stop();
        Task put;
        try
        {
            put = store.PutAsync("during", new MemoryStream(Bytes(600, 2)));
            await Task.Delay(500);
            Assert.False(put.IsCompleted);
        }
        finally
        {
            azurite.Start();
        }
        await put;
        Assert.Equal(Bytes(500, 1), await ReadAllAsync(store, "before"));
        Assert.Equal(Bytes(600, 2), await ReadAllAsync(store, "during"));
    }
}
