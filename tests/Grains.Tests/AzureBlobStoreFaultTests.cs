using SaeCluster.Grains;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// <see cref="AzureBlobStore"/> (the Azure SDK's retry policy and transfers) against Azurite behind
/// <see cref="FaultProxy"/>: transient failures are retried (bodies re-sent, downloads resumed under the same
/// ETag), persistent ones end in a clear <see cref="BlobStoreException"/> after the configured retries, as do
/// bad keys and unreachable endpoints.
/// </summary>
public sealed class AzureBlobStoreFaultTests(AzuriteServer azurite) : IClassFixture<AzuriteServer>, IDisposable
{
    readonly TempDir _temp = new();

    /// <summary>Quick retries so that the tests stay short.</summary>
    static readonly AzureBlobStoreOptions Fast = new()
    {
        MaxRetries = 4,
        Delay = TimeSpan.FromMilliseconds(10),
        MaxDelay = TimeSpan.FromMilliseconds(100),
        NetworkTimeout = TimeSpan.FromSeconds(10),
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
        return new AzureBlobStore(AzuriteServer.ConnectionStringFor(proxy.BlobEndpoint), container, options ?? Fast);
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
    [InlineData(ProxyFault.LoseAnswer)]
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
        Assert.Null(await store.GetSizeAsync("a/c"));
        Assert.True(proxy.Requests.Count >= 16);
        Assert.Equal([_temp["c.bin"]], Directory.EnumerateFileSystemEntries(_temp.Path));
    }

    [Fact]
    public async Task StalledAnswersTimeOutAndAreRetried()
    {
        await using var proxy = new FaultProxy(azurite.Port, FaultProxy.First(2, ProxyFault.Stall));
        var store = await StoreAsync(proxy, Fast with { MaxRetries = 8, NetworkTimeout = TimeSpan.FromMilliseconds(500) });
        await store.PutAsync("slow", new MemoryStream(Bytes(100, 1)));
        Assert.True(proxy.Requests.Count >= 3); // two stalled, then through
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
        var store = await StoreAsync(proxy, Fast with { SingleUploadThreshold = 1 << 20, BlockSize = 1 << 20, TransferConcurrency = 2 });
        byte[] data = Bytes(3 * (1 << 20) + 777, 5);
        Assert.True(await store.TryCreateAsync("big", new MemoryStream(data)));
        Assert.Equal(data, await ReadAllAsync(store, "big"));
        var blocks = proxy.Requests.Where(r => r.Method == "PUT" && r.Target.Contains("comp=block&", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, blocks.Select(r => r.Target).Distinct().Count());
        Assert.Equal(8, blocks.Count); // each block twice: failed, then sent again
        var commits = proxy.Requests.Where(r => r.Target.Contains("comp=blocklist", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, commits.Count);
        Assert.All(commits, c => Assert.True(c.HasHeader("If-None-Match")));
    }

    [Fact]
    public async Task ACreateWhoseAnswerWasLostStillCountsAsOurs()
    {
        await using var proxy = new FaultProxy(azurite.Port, r => r.Method == "PUT" && r.Index == 0 ? ProxyFault.LoseAnswer : ProxyFault.None);
        var store = await StoreAsync(proxy);
        Assert.True(await store.TryCreateAsync("mine", new MemoryStream(Bytes(50, 1)))); // the retry meets 409: the create id says it is ours
        Assert.Equal(2, proxy.Requests.Count(r => r.Method == "PUT"));
        Assert.False(await store.TryCreateAsync("mine", new MemoryStream(Bytes(50, 2))));
        Assert.Equal(Bytes(50, 1), await ReadAllAsync(store, "mine"));
    }

    [Fact]
    public async Task ADeleteWhoseAnswerWasLostStillCountsAsDone()
    {
        await using var proxy = new FaultProxy(azurite.Port, r => r.Method == "DELETE" && r.Index == 1 ? ProxyFault.LoseAnswer : ProxyFault.None);
        var store = await StoreAsync(proxy);
        await store.PutAsync("gone", new MemoryStream(Bytes(10, 1)));
        Assert.True(await store.DeleteAsync("gone")); // the retry meets 404
        Assert.Equal(2, proxy.Requests.Count(r => r.Method == "DELETE"));
        Assert.False(await store.DeleteAsync("gone"));
    }

    [Fact]
    public async Task ABrokenDownloadResumesUnderTheSameETag()
    {
        await using var proxy = new FaultProxy(azurite.Port, r => r.Method == "GET" && r.Index < 3 ? ProxyFault.Truncate : ProxyFault.None) { TruncateAfter = 1 << 20 };
        var store = await StoreAsync(proxy);
        byte[] data = Bytes(3 * (1 << 20) + 5, 9);
        await new AzureBlobStore(azurite.ConnectionString, store.Container).PutAsync("d", new MemoryStream(data));
        await store.DownloadToFileAsync("d", _temp["d.bin"]);
        Assert.Equal(data, await File.ReadAllBytesAsync(_temp["d.bin"]));
        Assert.Equal(4, proxy.Requests.Count);
        Assert.All(proxy.Requests.Skip(1), r => Assert.True(r.HasHeader("x-ms-range") && r.HasHeader("If-Match"), r.Head));
        Assert.Equal([_temp["d.bin"]], Directory.EnumerateFileSystemEntries(_temp.Path));
    }

    [Fact]
    public async Task ABlobReplacedDuringADownloadIsAClearErrorNotAMixedFile()
    {
        // The first answer is cut after 1 MiB; before the resume asks for the rest, the blob is replaced.
        AzureBlobStore? direct = null;
        byte[] replacement = Bytes(3 * (1 << 20), 11);
        await using var proxy = new FaultProxy(azurite.Port, r =>
        {
            if (r.Method != "GET") return ProxyFault.None;
            if (r.Index == 1) direct!.PutAsync("d", new MemoryStream(replacement)).GetAwaiter().GetResult();
            return r.Index == 0 ? ProxyFault.Truncate : ProxyFault.None;
        }) { TruncateAfter = 1 << 20 };
        var store = await StoreAsync(proxy);
        direct = new AzureBlobStore(azurite.ConnectionString, store.Container);
        await direct.PutAsync("d", new MemoryStream(Bytes(3 * (1 << 20), 10)));
        string target = _temp["d.bin"];
        await File.WriteAllBytesAsync(target, [1, 2, 3]);
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.DownloadToFileAsync("d", target));
        Assert.Contains("changed while it was downloaded", e.Message);
        Assert.Equal([1, 2, 3], await File.ReadAllBytesAsync(target)); // untouched
        Assert.Equal([target], Directory.EnumerateFileSystemEntries(_temp.Path));
        await store.DownloadToFileAsync("d", target); // again: the new content, whole
        Assert.Equal(replacement, await File.ReadAllBytesAsync(target));
    }

    [Fact]
    public async Task ADownloadThatKeepsFailingLeavesNoTempFile()
    {
        await using var proxy = new FaultProxy(azurite.Port, r => r.Method == "GET" ? ProxyFault.Drop : ProxyFault.None);
        var store = await StoreAsync(proxy, Fast with { MaxRetries = 2 });
        await new AzureBlobStore(azurite.ConnectionString, store.Container).PutAsync("d", new MemoryStream(Bytes(1000, 1)));
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.DownloadToFileAsync("d", _temp["d.bin"]));
        Assert.Contains("3 attempts", e.Message);
        Assert.Equal(3, proxy.Requests.Count(r => r.Method == "GET"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_temp.Path));
    }

    [Theory]
    [InlineData(ProxyFault.ServiceUnavailable, "kept answering HTTP 503 ServerBusy")]
    [InlineData(ProxyFault.Drop, "the connection to")]
    [InlineData(ProxyFault.Stall, "no answer from")]
    public async Task PersistentFailuresGiveUpAfterTheConfiguredRetries(ProxyFault fault, string expected)
    {
        await using var proxy = new FaultProxy(azurite.Port, _ => fault);
        // (a short network timeout only where it is the point: on a busy machine a request can take longer to reach the proxy)
        var store = await StoreAsync(proxy, Fast with { MaxRetries = 2, NetworkTimeout = TimeSpan.FromMilliseconds(fault == ProxyFault.Stall ? 500 : 10_000) });
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.PutAsync("x", new MemoryStream(Bytes(10, 1))));
        if (fault == ProxyFault.Stall) Assert.InRange(proxy.Requests.Count, 1, 3); // an attempt may time out before the proxy has read it
        else Assert.Equal(3, proxy.Requests.Count);
        Assert.Contains(expected, e.Message);
        Assert.Contains(proxy.BlobEndpoint, e.Message);
        Assert.Contains("3 attempts", e.Message);
        Assert.StartsWith($"{store.Location}/x: ", e.Message);
        Assert.Equal(store.Location, e.Store);
        Assert.Equal("x", e.Blob);
        Assert.DoesNotContain("Retry settings", e.Message); // the SDK's advice is not ours to give
        Assert.DoesNotContain(AzuriteServer.AccountKey, e.ToString());
    }

    [Fact]
    public async Task ListingsFollowMarkersAcrossPages()
    {
        await using var proxy = new FaultProxy(azurite.Port, _ => ProxyFault.None);
        var store = await StoreAsync(proxy, Fast with { ListPageSize = 3 });
        for (int i = 0; i < 10; i++) await store.PutAsync($"p/{i:D2}", new MemoryStream(Bytes(i, i)));
        await store.PutAsync("q/other", new MemoryStream([1]));
        var listed = new List<BlobItem>();
        await foreach (var item in store.ListAsync("p/")) listed.Add(item);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => new BlobItem($"p/{i:D2}", i)), listed);
        var lists = proxy.Requests.Where(r => r.Target.Contains("comp=list")).ToList();
        Assert.Equal(4, lists.Count);
        Assert.All(lists, r => Assert.Contains("maxresults=3", r.Target));
        Assert.All(lists.Skip(1), r => Assert.Contains("marker=", r.Target));
    }

    [Fact]
    public async Task AWrongAccountKeyIsOneClearError()
    {
        string wrongKey = Convert.ToBase64String(Bytes(64, 1));
        await using var proxy = new FaultProxy(azurite.Port, _ => ProxyFault.None);
        var store = new AzureBlobStore(AzuriteServer.ConnectionStringFor(proxy.BlobEndpoint, wrongKey), "any", Fast);
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.InitializeAsync());
        Assert.Contains("authentication failed", e.Message);
        Assert.Contains("AccountKey", e.Message);
        Assert.Contains("403", e.Message);
        Assert.DoesNotContain(wrongKey, e.ToString());
        Assert.DoesNotContain("\n", e.Message); // one line, not the SDK's dump of the answer
        Assert.Single(proxy.Requests); // 403 is not retried
    }

    [Fact]
    public async Task AnUnreachableEndpointIsNamed()
    {
        int closed = LoopbackPorts.Free();
        string endpoint = $"http://127.0.0.1:{closed}/devstoreaccount1";
        var store = new AzureBlobStore(AzuriteServer.ConnectionStringFor(endpoint), "any", Fast with { MaxRetries = 1 });
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.InitializeAsync());
        Assert.Contains($"cannot reach the blob service at {endpoint} (127.0.0.1:{closed}", e.Message);
        Assert.Contains("2 attempts", e.Message);
        Assert.StartsWith("azure://devstoreaccount1/any: ", e.Message);
        Assert.Equal("", e.Blob);
    }

    [Fact]
    public async Task CancellationIsNotAStoreError()
    {
        await using var proxy = new FaultProxy(azurite.Port, _ => ProxyFault.Stall);
        var store = await StoreAsync(proxy);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.GetSizeAsync("x", cancel.Token));
    }

    [Fact]
    public async Task OperationsRideOutAServerRestart()
    {
        var options = Fast with { MaxRetries = 60, Delay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(200) };
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
