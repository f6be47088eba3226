using System.Security.Cryptography;
using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Grains;

/// <summary>
/// Activation shards of one site read while they are still being produced. The stream is the shards in
/// index order, grouped by <c>groupShards</c> consecutive shards; rows are permuted within each group by
/// a generator seeded from (seed, epoch, group), so batch #step is a pure function of the committed
/// shards and a resumed trainer reads exactly what an uninterrupted one would. A batch that needs rows
/// not yet committed waits for them; once production is complete, positions past the end wrap into the
/// next epoch. Each shard is fetched from blob storage (or mapped in place from a local store), checked
/// against the producer's SHA-256 — a corrupt shard is refetched once and otherwise reported, never
/// trained on — and validated (shape, dtype, finite values).
/// </summary>
public sealed class StreamingShardSource : IActivationSource
{
    readonly IBlobStore _blobs;
    readonly Func<CancellationToken, Task<ShardCatalog>> _catalog;
    readonly ulong _seed;
    readonly int _group;
    readonly string _cacheDir;
    readonly CancellationToken _ct;
    readonly Action<string>? _waiting;
    readonly TimeSpan _poll;
    ShardCatalog _known = new(new Dictionary<int, ShardEntry>(), false, int.MaxValue);
    readonly List<long> _groupStart = [0]; // cumulative rows of the groups whose shards are all known
    readonly Dictionary<int, SafetensorsFile> _open = new();
    readonly Dictionary<(long Epoch, int Group), int[]> _perms = new();
    long[] _rows = new long[1 << 16];
    int[] _shardOfRow = new int[1 << 16];
    Dictionary<string, string>? _metadata;
    float? _normScale;

    public int DIn { get; }
    public long? Rows => null;

    public StreamingShardSource(int dIn, IBlobStore blobs, Func<CancellationToken, Task<ShardCatalog>> catalog, ulong seed, int groupShards,
        string cacheDir, CancellationToken ct, Action<string>? waiting = null, TimeSpan? poll = null)
    {
        if (groupShards < 1) throw new ArgumentOutOfRangeException(nameof(groupShards));
        DIn = dIn;
        _blobs = blobs;
        _catalog = catalog;
        _seed = seed;
        _group = groupShards;
        _cacheDir = cacheDir;
        _ct = ct;
        _waiting = waiting;
        _poll = poll ?? TimeSpan.FromMilliseconds(500);
        Directory.CreateDirectory(cacheDir);
    }

    public float? NormScale { get { LoadFirstShard(); return _normScale; } }

    public IReadOnlyDictionary<string, string> Metadata { get { LoadFirstShard(); return _metadata!; } }

    void LoadFirstShard()
    {
        if (_metadata != null) return;
        EnsureRows(1);
        var f = Shard(0);
        _metadata = new Dictionary<string, string>(f.Metadata) { ["dataset_path"] = $"{_blobs.Location}/{_known.Shards[0].Blob}" };
        if (f.Metadata.TryGetValue("norm_scale", out var ns) && float.TryParse(ns, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0 && float.IsFinite(v))
            _normScale = v;
    }

    long KnownRows => _groupStart[^1];
    int KnownGroups => _groupStart.Count - 1;

    /// <summary>Rows in a full pass over the data; known only once production is complete.</summary>
    long? EpochRows => _known.Complete && KnownGroups * _group >= _known.TotalShards ? KnownRows : null;

    // Blocks until rows [0, end) of the first epoch are mapped, or production is complete.
    void EnsureRows(long end)
    {
        bool announced = false;
        while (true)
        {
            ExtendGroups();
            if (KnownRows >= end || EpochRows != null) break;
            _known = _catalog(_ct).GetAwaiter().GetResult();
            ExtendGroups();
            if (KnownRows >= end || EpochRows != null) break;
            if (!announced) { _waiting?.Invoke($"waiting for shards ({KnownRows:N0} rows committed, {end:N0} needed)"); announced = true; }
            Task.Delay(_poll, _ct).GetAwaiter().GetResult();
        }
        if (EpochRows == 0) throw new DataException(_blobs.Location, "production finished without committing any shard for this site (the corpus is empty?)");
    }

    // Adds every group whose shards are all committed (a short last group once the shard count is final).
    void ExtendGroups()
    {
        while (true)
        {
            int first = KnownGroups * _group;
            if (first >= _known.TotalShards) return;
            int last = (int)Math.Min((long)first + _group, _known.TotalShards);
            if (!AllKnown(first, last)) return;
            long rows = 0;
            for (int i = first; i < last; i++) rows += _known.Shards[i].Rows;
            _groupStart.Add(KnownRows + rows);
        }
    }

    bool AllKnown(int first, int last)
    {
        for (int i = first; i < last; i++) if (!_known.Shards.ContainsKey(i)) return false;
        return true;
    }

    public void ReadBatch(long step, int batchSize, float[] dst)
    {
        long pos = step * batchSize;
        if (_rows.Length < batchSize) { _rows = new long[batchSize]; _shardOfRow = new int[batchSize]; }
        EnsureRows(pos + batchSize);
        for (int i = 0; i < batchSize; i++) (_shardOfRow[i], _rows[i]) = Locate(pos + i);
        // open every shard the batch touches first (downloads, checks), then copy rows in parallel
        int lowest = int.MaxValue;
        for (int i = 0; i < batchSize; i++)
        {
            Shard(_shardOfRow[i]);
            lowest = Math.Min(lowest, _shardOfRow[i]);
        }
        Evict(lowest);
        int d = DIn;
        Parallel.For(0, (batchSize + 63) / 64, t =>
        {
            int hi = Math.Min(batchSize, (t + 1) * 64);
            for (int i = t * 64; i < hi; i++)
                _open[_shardOfRow[i]].ReadRowsAsFloat(ShardDataset.ActsTensor, _rows[i], 1, dst.AsSpan(i * d, d));
        });
    }

    // stream position → (shard, row within the shard)
    (int Shard, long Row) Locate(long p)
    {
        long epoch = 0, q = p;
        if (EpochRows is long total) { epoch = p / total; q = p % total; }
        int g = _groupStart.BinarySearch(q);
        if (g < 0) g = ~g - 1;
        int rowsInGroup = (int)(_groupStart[g + 1] - _groupStart[g]);
        if (!_perms.TryGetValue((epoch, g), out var perm))
        {
            if (_perms.Count >= 4) _perms.Clear();
            perm = new int[rowsInGroup];
            new Rng(Rng.Derive(_seed, 0x57AE, (ulong)epoch, (ulong)g)).Permutation(perm);
            _perms[(epoch, g)] = perm;
        }
        long r = perm[q - _groupStart[g]];
        int s = g * _group;
        while (r >= _known.Shards[s].Rows) { r -= _known.Shards[s].Rows; s++; }
        return (s, r);
    }

    SafetensorsFile Shard(int index)
    {
        if (_open.TryGetValue(index, out var f)) return f;
        var entry = _known.Shards[index];
        f = Fetch(entry);
        _open[index] = f;
        return f;
    }

    SafetensorsFile Fetch(ShardEntry entry)
    {
        string? local = _blobs.LocalPath(entry.Blob);
        for (int attempt = 0; ; attempt++)
        {
            string path = local ?? Path.Combine(_cacheDir, entry.Blob.Replace('/', '_'));
            if (local == null && !File.Exists(path)) _blobs.DownloadToFileAsync(entry.Blob, path, _ct).GetAwaiter().GetResult();
            string actual = Sha256Of(path);
            if (actual == entry.Sha256)
            {
                SafetensorsFile file;
                try { file = SafetensorsFile.Open(path); }
                catch (SafetensorsFormatException e) { throw new DataException(entry.Blob, e.Problem); }
                try
                {
                    int d = ShardDataset.CheckActs(file, entry.Blob);
                    if (d != DIn) throw new DataException(entry.Blob, $"has d = {d}, the site's width is {DIn}");
                    if (file.Get(ShardDataset.ActsTensor).Shape[0] != entry.Rows) throw new DataException(entry.Blob, $"has {file.Get(ShardDataset.ActsTensor).Shape[0]} rows, its producer committed {entry.Rows}");
                    try { ShardDataset.ScanFinite([file], null); }
                    catch (DataException e) { throw new DataException(entry.Blob, e.Message[(file.Path.Length + 2)..]); }
                    if (local != null) SaeClusterMetrics.BlobRead.Add(new FileInfo(path).Length); // read in place (a download counts itself)
                    return file;
                }
                catch { file.Dispose(); throw; }
            }
            if (local == null) File.Delete(path);
            if (local != null || attempt >= 1)
                throw new DataException($"{_blobs.Location}/{entry.Blob}", $"is corrupt: SHA-256 {actual[..16]}… does not match {entry.Sha256[..16]}… recorded when it was committed; it was not trained on");
        }
    }

    public static string Sha256Of(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    // Shards before the group of the lowest shard in use are done with (until a next epoch).
    void Evict(int lowestInUse)
    {
        int keepFrom = lowestInUse / _group * _group;
        foreach (int s in _open.Keys.Where(k => k < keepFrom).ToArray())
        {
            string path = _open[s].Path;
            _open[s].Dispose();
            _open.Remove(s);
            if (_blobs.LocalPath(_known.Shards[s].Blob) == null) File.Delete(path);
        }
    }

    public void Dispose()
    {
        foreach (var f in _open.Values) f.Dispose();
        _open.Clear();
    }
}
