using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// Activation shards in a folder (*.safetensors, each with <c>acts</c> [n, d] in F32/F16/BF16), memory-mapped
/// and read as one shuffled stream. The shuffle permutes blocks of rows per epoch and rows within each
/// block, all from seeded generators, so any batch can be recomputed from its step number alone.
/// </summary>
public sealed class ShardDataset : IActivationSource
{
    public const string ActsTensor = "acts";
    readonly SafetensorsFile[] _shards;
    readonly long[] _rowStart; // cumulative rows, [shards + 1]
    readonly ulong _seed;
    readonly int _block;
    readonly long _rows;
    // caches for the current epoch's block order and the most recent block permutations
    long _epoch = -1;
    int[] _blockOrder = [];
    long[] _epochBlockStart = [];
    readonly Dictionary<(long, int), int[]> _perms = new();
    readonly long[] _batchRows;

    public int DIn { get; }
    public long? Rows => _rows;
    public float? NormScale { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyList<string> Files => _shards.Select(s => s.Path).ToArray();

    ShardDataset(SafetensorsFile[] shards, int dIn, ulong seed, int block, float? normScale, IReadOnlyDictionary<string, string> metadata)
    {
        _shards = shards;
        DIn = dIn;
        _rowStart = new long[shards.Length + 1];
        for (int i = 0; i < shards.Length; i++) _rowStart[i + 1] = _rowStart[i] + shards[i].Get(ActsTensor).Shape[0];
        _rows = _rowStart[^1];
        _seed = seed;
        _block = (int)Math.Min(block, _rows);
        NormScale = normScale;
        Metadata = metadata;
        _batchRows = new long[1 << 16];
    }

    /// <summary>
    /// Opens every shard in <paramref name="folder"/> and validates them all before any training starts:
    /// headers, dtypes, a common d, and (with <paramref name="scanValues"/>) that every value is finite.
    /// Errors name the file. <paramref name="progress"/> receives (bytes scanned, total bytes).
    /// </summary>
    public static ShardDataset Open(string folder, ulong seed, int shuffleBlock, bool scanValues = true, Action<long, long>? progress = null)
    {
        if (!Directory.Exists(folder))
            throw new DataException(folder, File.Exists(folder) ? "is a file; --data wants the folder of activation shards" : "no such folder");
        var files = Directory.GetFiles(folder, "*.safetensors", SearchOption.TopDirectoryOnly)
            .Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new DataException(folder, "holds no *.safetensors activation shards");
        var shards = new List<SafetensorsFile>();
        try
        {
            int d = -1; string? firstFile = null;
            foreach (var f in files)
            {
                SafetensorsFile s;
                try { s = SafetensorsFile.Open(f); }
                catch (SafetensorsFormatException e) { throw new DataException(f, e.Problem); }
                shards.Add(s);
                int shardD = CheckActs(s, f);
                if (d < 0) { d = shardD; firstFile = f; }
                else if (shardD != d) throw new DataException(f, $"has d = {shardD} but {Path.GetFileName(firstFile)} has d = {d}; all shards of one site must share d");
            }
            var arr = shards.ToArray();
            if (scanValues) ScanFinite(arr, progress);
            float? scale = null;
            if (arr[0].Metadata.TryGetValue("norm_scale", out var ns) && float.TryParse(ns, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0 && float.IsFinite(v))
                scale = v;
            var meta = new Dictionary<string, string>(arr[0].Metadata) { ["dataset_path"] = Path.GetFullPath(folder) };
            return new ShardDataset(arr, d, seed, shuffleBlock, scale, meta);
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    /// <summary>Checks that a shard holds a non-empty 2-D float <c>acts</c> tensor; returns its d. Errors name <paramref name="name"/>.</summary>
    public static int CheckActs(SafetensorsFile s, string name)
    {
        if (!s.TryGet(ActsTensor, out var acts)) throw new DataException(name, $"has no '{ActsTensor}' tensor (tensors: {string.Join(", ", s.Tensors.Select(t => t.Name))})");
        if (acts.Shape.Length != 2) throw new DataException(name, $"'{ActsTensor}' must be 2-D [n_tokens, d] but has shape [{string.Join(", ", acts.Shape)}]");
        if (acts.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
            throw new DataException(name, $"'{ActsTensor}' has dtype {acts.Dtype}; expected F32, F16 or BF16");
        if (acts.Shape[0] == 0 || acts.Shape[1] == 0) throw new DataException(name, $"'{ActsTensor}' is empty [{string.Join(", ", acts.Shape)}]");
        return (int)acts.Shape[1];
    }

    /// <summary>Every activation must be finite; reports the first bad row by file.</summary>
    public static void ScanFinite(SafetensorsFile[] shards, Action<long, long>? progress)
    {
        long total = shards.Sum(s => s.Get(ActsTensor).ByteLength), done = 0;
        foreach (var s in shards)
        {
            var info = s.Get(ActsTensor);
            long n = info.Shape[0]; int d = (int)info.Shape[1];
            const int RowsPerChunk = 1024;
            long chunks = (n + RowsPerChunk - 1) / RowsPerChunk;
            long badRow = long.MaxValue;
            Parallel.For(0L, chunks, () => new float[RowsPerChunk * d], (c, _, buf) =>
            {
                long lo = c * RowsPerChunk; int rows = (int)Math.Min(RowsPerChunk, n - lo);
                s.ReadRowsAsFloat(ActsTensor, lo, rows, buf.AsSpan(0, rows * d));
                // NaN or ±∞ anywhere makes the sum non-finite (so can overflow): one SIMD pass, then rows only if needed
                if (!float.IsFinite(TensorPrimitives.Sum(buf.AsSpan(0, rows * d))))
                    for (int r = 0; r < rows; r++)
                        if (HasNonFinite(buf.AsSpan(r * d, d))) { InterlockedMin(ref badRow, lo + r); break; }
                return buf;
            }, _ => { });
            if (badRow != long.MaxValue)
                throw new DataException(s.Path, $"'{ActsTensor}' row {badRow} holds NaN or Inf values");
            done += info.ByteLength;
            progress?.Invoke(done, total);
        }
    }

    static bool HasNonFinite(ReadOnlySpan<float> v)
    {
        foreach (float f in v) if (!float.IsFinite(f)) return true;
        return false;
    }

    static void InterlockedMin(ref long target, long value)
    {
        long cur;
        while (value < (cur = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, cur) != cur) { }
    }

    public void ReadBatch(long step, int batchSize, float[] dst)
    {
        long[] rows = batchSize <= _batchRows.Length ? _batchRows : new long[batchSize];
        long pos = step * batchSize;
        for (int i = 0; i < batchSize; i++) rows[i] = RowAt(pos + i);
        int d = DIn;
        Parallel.For(0, (batchSize + 63) / 64, t =>
        {
            int hi = Math.Min(batchSize, (t + 1) * 64);
            for (int i = t * 64; i < hi; i++)
            {
                long r = rows[i];
                int shard = ShardOf(r);
                _shards[shard].ReadRowsAsFloat(ActsTensor, r - _rowStart[shard], 1, dst.AsSpan(i * d, d));
            }
        });
    }

    int ShardOf(long row)
    {
        int i = Array.BinarySearch(_rowStart, row);
        return i >= 0 ? i : ~i - 1;
    }

    // Row index at position p of the shuffled stream (epoch-wise block order, in-block permutation).
    long RowAt(long p)
    {
        long epoch = p / _rows, q = p % _rows;
        if (epoch != _epoch) StartEpoch(epoch);
        int bi = Array.BinarySearch(_epochBlockStart, q);
        if (bi < 0) bi = ~bi - 1;
        int block = _blockOrder[bi];
        int offset = (int)(q - _epochBlockStart[bi]);
        long blockFirst = (long)block * _block;
        int len = (int)Math.Min(_block, _rows - blockFirst);
        if (!_perms.TryGetValue((epoch, block), out var perm))
        {
            if (_perms.Count >= 4) _perms.Clear();
            perm = new int[len];
            new Rng(Rng.Derive(_seed, 0xB10C, (ulong)epoch, (ulong)block)).Permutation(perm);
            _perms[(epoch, block)] = perm;
        }
        return blockFirst + perm[offset];
    }

    void StartEpoch(long epoch)
    {
        int blocks = (int)((_rows + _block - 1) / _block);
        _blockOrder = new int[blocks];
        new Rng(Rng.Derive(_seed, 0xE90C, (ulong)epoch)).Permutation(_blockOrder);
        _epochBlockStart = new long[blocks];
        long s = 0;
        for (int i = 0; i < blocks; i++)
        {
            _epochBlockStart[i] = s;
            long first = (long)_blockOrder[i] * _block;
            s += Math.Min(_block, _rows - first);
        }
        _epoch = epoch;
        _perms.Clear();
    }

    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
    }
}
