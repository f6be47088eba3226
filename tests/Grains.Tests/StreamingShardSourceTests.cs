using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// The trainer's view of shards being produced: batches come from committed shards only, a batch past
/// them waits, the order is a pure function of (seed, step), a finished stream wraps into new epochs,
/// and a shard whose bytes do not match the producer's checksum is refused.
/// </summary>
public sealed class StreamingShardSourceTests : IDisposable
{
    readonly TempDir _dir = new();
    readonly LocalBlobStore _blobs;
    const int D = 8, RowsPerShard = 100;

    public StreamingShardSourceTests()
    {
        _blobs = new LocalBlobStore(_dir["blobs"]);
        _blobs.InitializeAsync().GetAwaiter().GetResult();
    }

    // shard i holds rows whose first value is the global row id (i·100 + r)
    async Task<ShardEntry> CommitShardAsync(int i)
    {
        var acts = new float[RowsPerShard * D];
        for (int r = 0; r < RowsPerShard; r++) for (int j = 0; j < D; j++) acts[r * D + j] = j == 0 ? i * RowsPerShard + r : 1f;
        var w = new SafetensorsWriter();
        w.Add("acts", acts, [RowsPerShard, D]);
        w.Metadata["norm_scale"] = "0.5";
        string tmp = _dir[$"tmp-{i}.safetensors"];
        w.Write(tmp);
        string blob = $"s/shards/0.res/shard-{i:D5}.safetensors";
        await using (var f = File.OpenRead(tmp)) Assert.True(await _blobs.TryCreateAsync(blob, f));
        return new ShardEntry(blob, RowsPerShard, StreamingShardSource.Sha256Of(tmp));
    }

    StreamingShardSource Source(Func<ShardCatalog> catalog, CancellationToken ct = default) =>
        new(D, _blobs, _ => Task.FromResult(catalog()), seed: 7, groupShards: 2, _dir["cache"], ct, poll: TimeSpan.FromMilliseconds(20));

    static float[] Ids(float[] batch) => Enumerable.Range(0, batch.Length / D).Select(r => batch[r * D]).ToArray();

    [Fact]
    public async Task BatchesComeFromCommittedShardsAndWaitForTheRest()
    {
        var committed = new System.Collections.Concurrent.ConcurrentDictionary<int, ShardEntry>();
        for (int i = 0; i < 4; i++) committed[i] = await CommitShardAsync(i);
        bool complete = false;
        using var source = Source(() => new ShardCatalog(new Dictionary<int, ShardEntry>(committed), complete, 6));
        Assert.Equal(0.5f, source.NormScale);

        // the first two groups (2 shards = 200 rows each) are readable now; each is one permutation of its rows
        var batch = new float[200 * D];
        source.ReadBatch(0, 200, batch);
        Assert.Equal(Enumerable.Range(0, 200).Select(x => (float)x), Ids(batch).Order());
        Assert.NotEqual(Enumerable.Range(0, 200).Select(x => (float)x), Ids(batch)); // shuffled within the group
        source.ReadBatch(1, 200, batch);
        Assert.Equal(Enumerable.Range(200, 200).Select(x => (float)x), Ids(batch).Order());

        // step 2 needs the third group: it waits until both of its shards are committed
        var waiting = Task.Run(() => { var b = new float[200 * D]; source.ReadBatch(2, 200, b); return Ids(b); });
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        committed[4] = await CommitShardAsync(4);
        await Task.Delay(150);
        Assert.False(waiting.IsCompleted); // half a group is not enough
        committed[5] = await CommitShardAsync(5);
        var ids = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(400, 200).Select(x => (float)x), ids.Order());

        // once production is complete (6 shards, 600 rows), positions past the end wrap into a reshuffled next epoch
        complete = true;
        source.ReadBatch(3, 200, batch);
        Assert.Equal(Enumerable.Range(0, 200).Select(x => (float)x), Ids(batch).Order());
    }

    [Fact]
    public async Task TheOrderIsAFunctionOfSeedAndStepAlone()
    {
        var all = new Dictionary<int, ShardEntry>();
        for (int i = 0; i < 4; i++) all[i] = await CommitShardAsync(i);
        using var a = Source(() => new ShardCatalog(all, true, 4));
        using var b = Source(() => new ShardCatalog(all, true, 4));
        var x = new float[64 * D]; var y = new float[64 * D];
        a.ReadBatch(3, 64, x);
        b.ReadBatch(0, 64, y); // another history before the same step
        b.ReadBatch(3, 64, y);
        Assert.Equal(x, y);
    }

    [Fact]
    public async Task ACorruptShardIsRefusedNamingTheBlob()
    {
        var entry = await CommitShardAsync(0);
        string path = _blobs.LocalPath(entry.Blob)!;
        var bytes = File.ReadAllBytes(path);
        bytes[^5] ^= 0x40; // one bit in the activations
        File.WriteAllBytes(path, bytes);
        using var source = Source(() => new ShardCatalog(new Dictionary<int, ShardEntry> { [0] = entry }, true, 1));
        var e = Assert.Throws<DataException>(() => source.ReadBatch(0, 10, new float[10 * D]));
        Assert.Contains("shard-00000.safetensors", e.Message);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void WaitingStopsWhenCancelled()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        using var source = Source(() => new ShardCatalog(new Dictionary<int, ShardEntry>(), false, 4), cts.Token);
        Assert.ThrowsAny<OperationCanceledException>(() => source.ReadBatch(0, 10, new float[10 * D]));
    }

    public void Dispose() => _dir.Dispose();
}
