using SaeCluster.Grains;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// What every blob store must do, run against each implementation (a local folder; Azure Blob Storage through
/// Azurite): round trips with awkward names, write-once creation (also under contention), replacement, ranged
/// reads, missing blobs, listings, deletes, large blobs through the block path and downloads that leave no
/// temp files behind.
/// </summary>
public abstract class BlobStoreConformance : IDisposable
{
    protected readonly TempDir Temp = new();

    /// <summary>A fresh, initialised, empty store.</summary>
    protected abstract Task<IBlobStore> CreateStoreAsync();

    /// <summary>A fresh store whose large-blob path (blocks) starts at about 1 MiB.</summary>
    protected virtual Task<IBlobStore> CreateSmallBlockStoreAsync() => CreateStoreAsync();

    public virtual void Dispose() => Temp.Dispose();

    protected static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static async Task<byte[]> ReadAllAsync(IBlobStore store, string name)
    {
        long size = await store.GetSizeAsync(name) ?? throw new InvalidOperationException($"{name} is missing");
        var buffer = new byte[size];
        Assert.Equal((int)size, await store.ReadRangeAsync(name, 0, buffer));
        return buffer;
    }

    protected static async Task<List<BlobItem>> ListAsync(IBlobStore store, string prefix)
    {
        var items = new List<BlobItem>();
        await foreach (var item in store.ListAsync(prefix)) items.Add(item);
        return items;
    }

    [Fact]
    public async Task BlobsRoundTripWithSpacesUnicodeAndFolders()
    {
        var store = await CreateStoreAsync();
        string[] names = ["plain", "with space.bin", "ünïcødé/日本語/файл.txt", "a/b/c/d.txt", "emoji 😀.bin", "odd+chars&=?#%;,.txt", ".hidden/x"];
        for (int i = 0; i < names.Length; i++)
            await store.PutAsync(names[i], new MemoryStream(Bytes(1000 + i, i)));
        for (int i = 0; i < names.Length; i++)
        {
            Assert.Equal(1000 + i, await store.GetSizeAsync(names[i]));
            Assert.Equal(Bytes(1000 + i, i), await ReadAllAsync(store, names[i]));
            string target = Temp[$"download-{i}"];
            await store.DownloadToFileAsync(names[i], target);
            Assert.Equal(Bytes(1000 + i, i), await File.ReadAllBytesAsync(target));
        }
        Assert.Equal(names.Order(StringComparer.Ordinal), (await ListAsync(store, "")).Select(b => b.Name));
        if (store.LocalPath(names[2]) is { } local) Assert.Equal(Bytes(1002, 2), await File.ReadAllBytesAsync(local));
    }

    [Fact]
    public async Task EmptyBlobsExist()
    {
        var store = await CreateStoreAsync();
        Assert.True(await store.TryCreateAsync("empty", new MemoryStream()));
        Assert.Equal(0, await store.GetSizeAsync("empty"));
        Assert.Equal(0, await store.ReadRangeAsync("empty", 0, new byte[10]));
        await store.DownloadToFileAsync("empty", Temp["empty"]);
        Assert.Empty(await File.ReadAllBytesAsync(Temp["empty"]));
        Assert.False(await store.TryCreateAsync("empty", new MemoryStream([1])));
    }

    [Fact]
    public async Task TryCreateWritesOnce()
    {
        var store = await CreateStoreAsync();
        Assert.True(await store.TryCreateAsync("once/x", new MemoryStream(Bytes(300, 1))));
        Assert.False(await store.TryCreateAsync("once/x", new MemoryStream(Bytes(500, 2))));
        Assert.Equal(Bytes(300, 1), await ReadAllAsync(store, "once/x"));
        Assert.Single(await ListAsync(store, "once/"));
    }

    [Fact]
    public async Task ConcurrentCreatorsHaveExactlyOneWinner()
    {
        var store = await CreateStoreAsync();
        using var go = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            go.Wait();
            return await store.TryCreateAsync("race/winner", new MemoryStream(Bytes(4096, 100 + i)));
        })).ToArray();
        go.Set();
        bool[] results = await Task.WhenAll(tasks);
        Assert.Single(results, r => r);
        int winner = Array.IndexOf(results, true);
        Assert.Equal(Bytes(4096, 100 + winner), await ReadAllAsync(store, "race/winner"));
        Assert.Single(await ListAsync(store, "race/"));
    }

    [Fact]
    public async Task ConcurrentLargeWritersNeverMixTheirBlocks()
    {
        // Writers of one name in blocks at once (two activations writing a shard): the blob that stands is one
        // writer's content, whole — never blocks of one with blocks of another.
        var store = await CreateSmallBlockStoreAsync();
        int size = 4 * (1 << 20) + 100;
        async Task<bool[]> RaceAsync(Func<int, Task<bool>> write)
        {
            using var go = new ManualResetEventSlim();
            var tasks = Enumerable.Range(0, 4).Select(i => Task.Run(async () => { go.Wait(); return await write(i); })).ToArray();
            go.Set();
            return await Task.WhenAll(tasks);
        }
        bool[] created = await RaceAsync(i => store.TryCreateAsync("race/big", new MemoryStream(Bytes(size, 200 + i))));
        Assert.Single(created, c => c);
        Assert.Equal(Bytes(size, 200 + Array.IndexOf(created, true)), await ReadAllAsync(store, "race/big"));

        // Replacing: the content that stands is one writer's, whole. (In Azure a commit discards the uncommitted
        // blocks of the others, whose commits then fail with a BlobStoreException.)
        bool[] put = await RaceAsync(async i =>
        {
            try { await store.PutAsync("race/put", new NonSeekableStream(Bytes(size, 300 + i))); return true; }
            catch (BlobStoreException e) when (e.Message.Contains("InvalidBlockList")) { return false; }
        });
        Assert.Contains(true, put);
        byte[] stored = await ReadAllAsync(store, "race/put");
        Assert.Contains(Enumerable.Range(0, 4), i => put[i] && Bytes(size, 300 + i).AsSpan().SequenceEqual(stored));
    }

    [Fact]
    public async Task PutReplaces()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", new MemoryStream(Bytes(2000, 1)));
        await store.PutAsync("p", new MemoryStream(Bytes(700, 2)));
        Assert.Equal(700, await store.GetSizeAsync("p"));
        Assert.Equal(Bytes(700, 2), await ReadAllAsync(store, "p"));
        Assert.Equal([new BlobItem("p", 700)], await ListAsync(store, ""));
    }

    [Fact]
    public async Task RangedReadsStopAtTheEnd()
    {
        var store = await CreateStoreAsync();
        byte[] data = Bytes(100, 7);
        await store.PutAsync("r", new MemoryStream(data));
        var buffer = new byte[20];
        Assert.Equal(20, await store.ReadRangeAsync("r", 10, buffer));
        Assert.Equal(data[10..30], buffer);
        Assert.Equal(10, await store.ReadRangeAsync("r", 90, buffer));
        Assert.Equal(data[90..], buffer[..10]);
        Assert.Equal(1, await store.ReadRangeAsync("r", 99, buffer));
        Assert.Equal(data[99], buffer[0]);
        Assert.Equal(0, await store.ReadRangeAsync("r", 100, buffer));
        Assert.Equal(0, await store.ReadRangeAsync("r", 5000, buffer));
        Assert.Equal(0, await store.ReadRangeAsync("r", 3, Memory<byte>.Empty));
    }

    [Fact]
    public async Task MissingBlobsAreReportedAndLeaveNoTempFiles()
    {
        var store = await CreateStoreAsync();
        Assert.Null(await store.GetSizeAsync("missing"));
        Assert.Null(await store.GetSizeAsync("no/such/folder/blob"));
        var e = await Assert.ThrowsAsync<BlobNotFoundException>(() => store.ReadRangeAsync("missing", 0, new byte[4]));
        Assert.Equal("missing", e.Blob);
        Assert.Contains("missing", e.Message);
        await Assert.ThrowsAsync<BlobNotFoundException>(() => store.ReadRangeAsync("missing", 0, Memory<byte>.Empty));
        string folder = Temp["downloads"];
        Directory.CreateDirectory(folder);
        await Assert.ThrowsAsync<BlobNotFoundException>(() => store.DownloadToFileAsync("missing", Path.Combine(folder, "x.bin")));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => store.DownloadToFileAsync("no/such/folder/blob", Path.Combine(folder, "y.bin")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
        Assert.False(await store.DeleteAsync("missing"));
    }

    [Fact]
    public async Task DownloadReplacesTheTargetAndLeavesNoTempFile()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("d/blob", new MemoryStream(Bytes(5000, 3)));
        string folder = Temp["out/nested"];
        Directory.CreateDirectory(folder);
        string target = Path.Combine(folder, "file.bin");
        await File.WriteAllBytesAsync(target, Bytes(99999, 4));
        await store.DownloadToFileAsync("d/blob", target);
        Assert.Equal(Bytes(5000, 3), await File.ReadAllBytesAsync(target));
        Assert.Equal([target], Directory.EnumerateFileSystemEntries(folder));
        await store.DownloadToFileAsync("d/blob", Temp["new-folder/file.bin"]); // creates the folder
        Assert.Equal(Bytes(5000, 3), await File.ReadAllBytesAsync(Temp["new-folder/file.bin"]));
    }

    [Fact]
    public async Task ListingsFilterByPrefixInOrdinalOrder()
    {
        var store = await CreateStoreAsync();
        // (no name is also a folder of others: a local folder cannot hold both "run" and "run/a")
        string[] names = ["run/b/2", "run/a/10", "run/a/9", "run/ab", "run/A", "ru", "runs/x", "other/run/1", "run/a/1/deep", "run/ä", "run/Z"];
        for (int i = 0; i < names.Length; i++) await store.PutAsync(names[i], new MemoryStream(Bytes(i + 1, i)));
        List<BlobItem> all = await ListAsync(store, "");
        Assert.Equal(names.Order(StringComparer.Ordinal), all.Select(b => b.Name));
        Assert.Equal(names.Select((n, i) => new BlobItem(n, i + 1)).OrderBy(b => b.Name, StringComparer.Ordinal), all);
        Assert.Equal(["run/A", "run/Z", "run/a/1/deep", "run/a/10", "run/a/9", "run/ab", "run/b/2", "run/ä"], (await ListAsync(store, "run/")).Select(b => b.Name));
        Assert.Equal(["run/a/1/deep", "run/a/10", "run/a/9"], (await ListAsync(store, "run/a/")).Select(b => b.Name));
        Assert.Equal(["run/a/1/deep", "run/a/10", "run/a/9", "run/ab"], (await ListAsync(store, "run/a")).Select(b => b.Name));
        Assert.Equal(["run/a/1/deep", "run/a/10"], (await ListAsync(store, "run/a/1")).Select(b => b.Name));
        Assert.Equal(["run/A", "run/Z", "run/a/1/deep", "run/a/10", "run/a/9", "run/ab", "run/b/2", "run/ä", "runs/x"], (await ListAsync(store, "run")).Select(b => b.Name));
        Assert.Empty(await ListAsync(store, "nothing/"));
        Assert.Empty(await ListAsync(store, "run/c"));
    }

    [Fact]
    public async Task DeleteRemovesABlob()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("del/a", new MemoryStream(Bytes(10, 1)));
        await store.PutAsync("del/b", new MemoryStream(Bytes(10, 2)));
        Assert.True(await store.DeleteAsync("del/a"));
        Assert.Null(await store.GetSizeAsync("del/a"));
        Assert.False(await store.DeleteAsync("del/a"));
        Assert.Equal(["del/b"], (await ListAsync(store, "")).Select(b => b.Name));
        Assert.True(await store.TryCreateAsync("del/a", new MemoryStream(Bytes(5, 3)))); // a deleted name can be created again
        Assert.Equal(Bytes(5, 3), await ReadAllAsync(store, "del/a"));
    }

    [Fact]
    public async Task LargeBlobsGoThroughTheBlockPath()
    {
        var store = await CreateSmallBlockStoreAsync();
        byte[] data = Bytes(5 * (1 << 20) + 12345, 42);
        await store.PutAsync("big/seekable", new MemoryStream(data));
        Assert.True(await store.TryCreateAsync("big/stream", new NonSeekableStream(data)));
        Assert.False(await store.TryCreateAsync("big/stream", new NonSeekableStream(Bytes(3 << 20, 43))));
        Assert.False(await store.TryCreateAsync("big/seekable", new MemoryStream(Bytes(3 << 20, 44))));
        await store.PutAsync("big/replaced", new NonSeekableStream(Bytes(3 << 20, 45)));
        await store.PutAsync("big/replaced", new NonSeekableStream(data));
        foreach (string name in new[] { "big/seekable", "big/stream", "big/replaced" })
        {
            Assert.Equal(data.Length, await store.GetSizeAsync(name));
            Assert.Equal(data, await ReadAllAsync(store, name));
            var across = new byte[100_000];
            Assert.Equal(across.Length, await store.ReadRangeAsync(name, (1 << 20) - 50_000, across)); // spans a block boundary
            Assert.Equal(data.AsSpan((1 << 20) - 50_000, across.Length).ToArray(), across);
        }
        await store.DownloadToFileAsync("big/stream", Temp["big.bin"]);
        Assert.Equal(data, await File.ReadAllBytesAsync(Temp["big.bin"]));
        Assert.Equal([Temp["big.bin"]], Directory.EnumerateFileSystemEntries(Temp.Path));
        Assert.Equal(3, (await ListAsync(store, "big/")).Count(b => b.Size == data.Length));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3 << 20)] // after some blocks went up
    public async Task AFailingSourceIsTheCallersErrorAndWritesNothing(int goodBytes)
    {
        var store = await CreateSmallBlockStoreAsync();
        var e = await Assert.ThrowsAsync<IOException>(() => store.PutAsync("w/a", new FailingStream(goodBytes)));
        Assert.Equal("the source broke", e.Message);
        await Assert.ThrowsAsync<IOException>(() => store.TryCreateAsync("w/a", new FailingStream(goodBytes)));
        Assert.Null(await store.GetSizeAsync("w/a"));
        Assert.Empty(await ListAsync(store, ""));
        Assert.True(await store.TryCreateAsync("w/a", new MemoryStream([7])));
    }

    [Theory]
    [InlineData("")]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("/absolute")]
    [InlineData("back\\slash")]
    [InlineData("a//b")]
    [InlineData("trailing/")]
    [InlineData("a/./b")]
    [InlineData("..")]
    [InlineData("ctrl\nchar")]
    [InlineData("x/.blobtmp-123")]
    public async Task BadNamesAreRejected(string name)
    {
        var store = await CreateStoreAsync();
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.PutAsync(name, new MemoryStream([1])));
        Assert.Contains("blob name", e.Problem);
        await Assert.ThrowsAsync<BlobStoreException>(() => store.TryCreateAsync(name, new MemoryStream([1])));
        await Assert.ThrowsAsync<BlobStoreException>(() => store.GetSizeAsync(name));
        Assert.Empty(await ListAsync(store, ""));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Temp.Path));
    }

    [Fact]
    public async Task BadPrefixesAreRejected()
    {
        var store = await CreateStoreAsync();
        await Assert.ThrowsAsync<BlobStoreException>(() => ListAsync(store, "../"));
        await Assert.ThrowsAsync<BlobStoreException>(() => ListAsync(store, "/abs"));
        await Assert.ThrowsAsync<BlobStoreException>(() => ListAsync(store, "a\\b"));
    }

    /// <summary>A source that gives <paramref name="goodBytes"/> bytes (in short reads), then fails, like a broken pipe.</summary>
    protected sealed class FailingStream(int goodBytes = 1) : Stream
    {
        int _given;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_given >= goodBytes) throw new IOException("the source broke");
            int n = Math.Min(Math.Min(count, goodBytes - _given), 70_000);
            buffer.AsSpan(offset, n).Fill(1);
            _given += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A read-only stream that cannot tell its length (like a network or pipe stream).</summary>
    protected sealed class NonSeekableStream(byte[] data) : Stream
    {
        readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 70_000)); // short reads too
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

public sealed class LocalBlobStoreTests : BlobStoreConformance
{
    readonly TempDir _stores = new(); // apart from Temp, which the base tests expect to hold only their own files
    int _count;

    protected override async Task<IBlobStore> CreateStoreAsync()
    {
        var store = new LocalBlobStore(_stores[$"store-{++_count}"]);
        await store.InitializeAsync();
        return store;
    }

    public override void Dispose()
    {
        _stores.Dispose();
        base.Dispose();
    }

    [Fact]
    public async Task WritesLeaveNoTempFilesAndLocalPathIsTheFile()
    {
        var store = (LocalBlobStore)await CreateStoreAsync();
        await store.PutAsync("f/a", new MemoryStream([1, 2, 3]));
        Assert.True(await store.TryCreateAsync("f/b", new MemoryStream([4])));
        Assert.False(await store.TryCreateAsync("f/b", new MemoryStream([5])));
        Assert.Equal(["a", "b"], Directory.GetFiles(Path.Combine(store.Root, "f")).Select(Path.GetFileName).Order());
        Assert.Equal(Path.Combine(store.Root, "f", "a"), store.LocalPath("f/a"));
        Assert.Equal([1, 2, 3], await File.ReadAllBytesAsync(store.LocalPath("f/a")!));
    }

    [Fact]
    public async Task StrayTempFilesAreNotListed()
    {
        var store = (LocalBlobStore)await CreateStoreAsync();
        await store.PutAsync("t/a", new MemoryStream([1]));
        await File.WriteAllBytesAsync(Path.Combine(store.Root, "t", ".blobtmp-0123456789abcdef"), [9]); // left by a crashed writer
        Assert.Equal(["t/a"], (await ListAsync(store, "")).Select(b => b.Name));
    }

    [Fact]
    public async Task AFailedWriteLeavesNothing()
    {
        var store = (LocalBlobStore)await CreateStoreAsync();
        await Assert.ThrowsAsync<IOException>(() => store.PutAsync("w/a", new FailingStream()));
        await Assert.ThrowsAsync<IOException>(() => store.TryCreateAsync("w/a", new FailingStream()));
        Assert.Null(await store.GetSizeAsync("w/a"));
        Assert.Empty(Directory.EnumerateFiles(store.Root, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task ABlobCannotBeAFolderOfAnother()
    {
        var store = (LocalBlobStore)await CreateStoreAsync();
        await store.PutAsync("x", new MemoryStream([1]));
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.PutAsync("x/y", new MemoryStream([2])));
        Assert.Contains(store.Root, e.Message);
        Assert.Contains("blob 'x' exists", e.Message);
        await store.PutAsync("f/g", new MemoryStream([2]));
        e = await Assert.ThrowsAsync<BlobStoreException>(() => store.TryCreateAsync("f", new MemoryStream([3])));
        Assert.Contains("'f/…' blobs exist", e.Message);
        Assert.Null(await store.GetSizeAsync("f"));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => store.ReadRangeAsync("f", 0, new byte[1]));
        Assert.Equal(["f/g", "x"], (await ListAsync(store, "")).Select(b => b.Name));
    }
}

public sealed class AzureBlobStoreTests(AzuriteServer azurite) : BlobStoreConformance, IClassFixture<AzuriteServer>
{
    /// <summary>Pages of 3 so that every listing above follows markers.</summary>
    static readonly AzureBlobStoreOptions Options = new() { ListPageSize = 3 };

    protected override Task<IBlobStore> CreateStoreAsync() => CreateAsync(Options);

    protected override Task<IBlobStore> CreateSmallBlockStoreAsync() =>
        CreateAsync(Options with { SingleUploadThreshold = 1 << 20, BlockSize = 1 << 20, TransferConcurrency = 3 });

    async Task<IBlobStore> CreateAsync(AzureBlobStoreOptions options)
    {
        var store = new AzureBlobStore(azurite.ConnectionString, "t" + Guid.NewGuid().ToString("N"), options);
        await store.InitializeAsync();
        await store.InitializeAsync(); // idempotent
        return store;
    }

    [Fact]
    public void TheLocationNamesAccountAndContainer()
    {
        var store = new AzureBlobStore(azurite.ConnectionString, "some-container");
        Assert.Equal("azure://devstoreaccount1/some-container", store.Location);
        Assert.Equal(azurite.BlobEndpoint, store.BlobEndpoint);
        Assert.Null(store.LocalPath("x"));
    }

    [Fact]
    public async Task ASharedAccessSignatureConnectionStringWorks()
    {
        var service = new Azure.Storage.Blobs.BlobServiceClient(azurite.ConnectionString, new Azure.Storage.Blobs.BlobClientOptions(new AzureBlobStoreOptions().ServiceVersion));
        string Signature(Azure.Storage.Sas.AccountSasPermissions permissions) =>
            service.GenerateAccountSasUri(permissions, DateTimeOffset.UtcNow.AddHours(1), Azure.Storage.Sas.AccountSasResourceTypes.All).Query.TrimStart('?');
        string container = "s" + Guid.NewGuid().ToString("N");
        var store = new AzureBlobStore($"BlobEndpoint={azurite.BlobEndpoint};SharedAccessSignature={Signature(Azure.Storage.Sas.AccountSasPermissions.All)}", container);
        Assert.Equal(azurite.BlobEndpoint, store.BlobEndpoint);
        Assert.Equal($"azure://devstoreaccount1/{container}", store.Location);
        await store.InitializeAsync();
        Assert.True(await store.TryCreateAsync("x/y", new MemoryStream([1, 2, 3])));
        Assert.Equal([1, 2, 3], await ReadAllAsync(store, "x/y"));
        Assert.Equal([new BlobItem("x/y", 3)], await ListAsync(store, ""));

        // a signature that may only read: writes are refused with a clear error that shows no signature
        string readOnly = Signature(Azure.Storage.Sas.AccountSasPermissions.Read | Azure.Storage.Sas.AccountSasPermissions.List);
        var reader = new AzureBlobStore($"BlobEndpoint={azurite.BlobEndpoint};SharedAccessSignature={readOnly}", container);
        Assert.Equal([1, 2, 3], await ReadAllAsync(reader, "x/y"));
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => reader.PutAsync("x/z", new MemoryStream([4])));
        Assert.Contains("403", e.Message);
        Assert.Contains("SharedAccessSignature", e.Message);
        Assert.DoesNotContain("sig=", e.Message);
    }

    [Fact]
    public async Task AMissingContainerIsNamed()
    {
        var store = new AzureBlobStore(azurite.ConnectionString, "never-created");
        var e = await Assert.ThrowsAsync<BlobStoreException>(() => store.PutAsync("x", new MemoryStream([1])));
        Assert.Contains("never-created", e.Message);
        Assert.Contains("InitializeAsync", e.Message);
    }
}
