using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SaeCluster.Compute;

/// <summary>Selection kernels for sparse codes: per-row top-k and whole-batch k-th largest.</summary>
public static class TopK
{
    /// <summary>
    /// The k largest strictly positive values of <paramref name="row"/> (ReLU then top-k), in no particular
    /// order. Writes indices and values, returns how many were found (≤ k; fewer when fewer are positive).
    /// Long rows and small k (an SAE's TopK: k 64 of 16,384): a lower bound on the k-th value from lane-wise
    /// block maxima, one SIMD pass collecting what reaches it, and a selection among those few. Otherwise a
    /// min-heap of size k; once it is full, SIMD compares skip whole vectors below the heap minimum.
    /// </summary>
    public static int RowTopKPositive(ReadOnlySpan<float> row, int k, Span<int> idx, Span<float> val)
    {
        if (k <= 0) return 0;
        if (Vector512.IsHardwareAccelerated && k <= MaxThresholdK && row.Length >= 64 * k && row.Length >= 2048)
        {
            int found = RowTopKByBound(row, k, idx, val);
            if (found >= 0) return found;
        }
        int count = 0;
        float min = 0f; // heap admits only values > min; min = 0 until full (ReLU)
        int i = 0;
        ref float r0 = ref MemoryMarshal.GetReference(row);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= row.Length; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref r0, (nuint)i);
                ulong mask = Vector512.GreaterThan(v, Vector512.Create(min)).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    int lane = BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                    float x = Unsafe.Add(ref r0, i + lane);
                    if (x > min) Push(idx, val, ref count, k, i + lane, x, ref min);
                }
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= row.Length; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref r0, (nuint)i);
                uint mask = Vector256.GreaterThan(v, Vector256.Create(min)).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    int lane = BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                    float x = Unsafe.Add(ref r0, i + lane);
                    if (x > min) Push(idx, val, ref count, k, i + lane, x, ref min);
                }
            }
        }
        for (; i < row.Length; i++)
        {
            float x = Unsafe.Add(ref r0, i);
            if (x > min) Push(idx, val, ref count, k, i, x, ref min);
        }
        return count;
    }

    const int MaxThresholdK = 256, MaxCandidates = 1024;

    // The bound: the row's vectors in 4k/16 blocks, the lane-wise maximum of each block — 4k distinct
    // elements — and t0 = the k-th largest of those: at least k elements reach t0, so the top k are all
    // ≥ t0. Returns −1 (the caller takes the heap path) when t0 is not positive or too many reach it.
    static int RowTopKByBound(ReadOnlySpan<float> row, int k, Span<int> idx, Span<float> val)
    {
        int vectors = row.Length / 16, blocks = Math.Max(1, k / 4), perBlock = vectors / blocks;
        ref float r0 = ref MemoryMarshal.GetReference(row);
        Span<float> maxima = stackalloc float[blocks * 16];
        for (int b = 0; b < blocks; b++)
        {
            nuint at = (nuint)(b * perBlock * 16);
            var m = Vector512.LoadUnsafe(ref r0, at);
            for (int v = 1; v < perBlock; v++) m = Vector512.Max(m, Vector512.LoadUnsafe(ref r0, at + (nuint)(v * 16)));
            m.CopyTo(maxima.Slice(b * 16, 16));
        }
        float t0 = KthLargestInPlace(maxima, k);
        if (!(t0 > 0)) return -1;
        Span<int> candIdx = stackalloc int[MaxCandidates];
        Span<float> candVal = stackalloc float[MaxCandidates];
        int count = 0, i = 0;
        var vt = Vector512.Create(t0);
        for (; i + 16 <= row.Length; i += 16)
        {
            ulong mask = Vector512.GreaterThanOrEqual(Vector512.LoadUnsafe(ref r0, (nuint)i), vt).ExtractMostSignificantBits();
            if (mask == 0) continue;
            if (count + BitOperations.PopCount(mask) > MaxCandidates) return -1;
            while (mask != 0)
            {
                int lane = BitOperations.TrailingZeroCount(mask);
                mask &= mask - 1;
                candIdx[count] = i + lane; candVal[count++] = Unsafe.Add(ref r0, i + lane);
            }
        }
        for (; i < row.Length; i++)
        {
            float x = Unsafe.Add(ref r0, i);
            if (x >= t0) { if (count == MaxCandidates) return -1; candIdx[count] = i; candVal[count++] = x; }
        }
        // count ≥ k: keep what is above the k-th largest candidate, then ties with it
        Span<float> scratch = stackalloc float[count];
        candVal[..count].CopyTo(scratch);
        float kth = KthLargestInPlace(scratch, k);
        int n = 0;
        for (int c = 0; c < count; c++)
            if (candVal[c] > kth) { idx[n] = candIdx[c]; val[n++] = candVal[c]; }
        for (int c = 0; c < count && n < k; c++)
            if (candVal[c] == kth) { idx[n] = candIdx[c]; val[n++] = candVal[c]; }
        return n;
    }

    // Min-heap on val[0..count); while count < k every positive value is admitted.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Push(Span<int> idx, Span<float> val, ref int count, int k, int j, float x, ref float min)
    {
        if (count < k)
        {
            int c = count++;
            while (c > 0)
            {
                int p = (c - 1) >> 1;
                if (val[p] <= x) break;
                val[c] = val[p]; idx[c] = idx[p]; c = p;
            }
            val[c] = x; idx[c] = j;
            if (count == k) min = val[0];
            return;
        }
        SiftDown(idx, val, k, j, x);
        min = val[0];
    }

    static void SiftDown(Span<int> idx, Span<float> val, int n, int j, float x)
    {
        int c = 0;
        while (true)
        {
            int l = 2 * c + 1;
            if (l >= n) break;
            int r = l + 1;
            int m = r < n && val[r] < val[l] ? r : l;
            if (val[m] >= x) break;
            val[c] = val[m]; idx[c] = idx[m]; c = m;
        }
        val[c] = x; idx[c] = j;
    }

    /// <summary>
    /// The <paramref name="kth"/>-largest strictly positive value in <paramref name="x"/> (1-based), or the
    /// smallest positive value when fewer than kth are positive, or +∞ when none is. Radix select on the
    /// float bit patterns (positive floats order like their bits): one parallel histogram pass over the top
    /// 12 bits, one pass collecting the chosen bucket, then quickselect inside it.
    /// </summary>
    public static float KthLargestPositive(ReadOnlySpan<float> x, long kth)
    {
        if (kth < 1) throw new ArgumentOutOfRangeException(nameof(kth));
        const int Buckets = 1 << 11; // bits 30..20 of a positive float
        int chunks = Math.Max(1, Math.Min(64, x.Length / (1 << 16)));
        long[] hist = System.Buffers.ArrayPool<long>.Shared.Rent(chunks * Buckets);
        hist.AsSpan(0, chunks * Buckets).Clear();
        unsafe
        {
            fixed (float* px = x)
            {
                float* p = px; int len = x.Length;
                Parallel.For(0, chunks, c =>
                {
                    int lo = (int)((long)len * c / chunks), hi = (int)((long)len * (c + 1) / chunks);
                    Span<long> h = hist.AsSpan(c * Buckets, Buckets);
                    for (int i = lo; i < hi; i++)
                    {
                        int bits = BitConverter.SingleToInt32Bits(p[i]);
                        if (bits > 0 && bits < 0x7F80_0000) h[bits >> 20]++;
                    }
                });
            }
        }
        long total = 0;
        Span<long> sum = stackalloc long[Buckets];
        for (int c = 0; c < chunks; c++)
            for (int b = 0; b < Buckets; b++) sum[b] += hist[c * Buckets + b];
        System.Buffers.ArrayPool<long>.Shared.Return(hist);
        for (int b = 0; b < Buckets; b++) total += sum[b];
        if (total == 0) return float.PositiveInfinity;
        if (kth > total) kth = total;
        int bucket = Buckets - 1; long above = 0;
        for (; bucket >= 0; bucket--)
        {
            if (above + sum[bucket] >= kth) break;
            above += sum[bucket];
        }
        long inBucket = sum[bucket];
        float[] cand = System.Buffers.ArrayPool<float>.Shared.Rent(checked((int)inBucket));
        int n = 0;
        foreach (float v in x)
        {
            int bits = BitConverter.SingleToInt32Bits(v);
            if (bits > 0 && bits < 0x7F80_0000 && (bits >> 20) == bucket) cand[n++] = v;
        }
        // kth largest overall = (kth - above)-th largest in the bucket
        float result = KthLargestInPlace(cand.AsSpan(0, n), (int)(kth - above));
        System.Buffers.ArrayPool<float>.Shared.Return(cand);
        return result;
    }

    /// <summary>
    /// The k largest strictly positive values of <paramref name="row"/> by selection rather than a heap:
    /// O(n) whatever k, for large k (AuxK keeps d_in/2 per token). <paramref name="scratch"/> needs row.Length.
    /// Writes indices and values in index order; returns how many (≤ k).
    /// </summary>
    public static int RowTopKPositiveBySelection(ReadOnlySpan<float> row, int k, Span<int> idx, Span<float> val, Span<float> scratch)
    {
        int positives = 0;
        foreach (float v in row) if (v > 0) scratch[positives++] = v;
        if (positives <= k)
        {
            int m = 0;
            for (int j = 0; j < row.Length; j++) if (row[j] > 0) { idx[m] = j; val[m++] = row[j]; }
            return m;
        }
        float t = KthLargestInPlace(scratch[..positives], k);
        int n = 0;
        for (int j = 0; j < row.Length; j++) // everything above the k-th value, then ties with it
            if (row[j] > t) { idx[n] = j; val[n++] = row[j]; }
        for (int j = 0; j < row.Length && n < k; j++)
            if (row[j] == t) { idx[n] = j; val[n++] = row[j]; }
        return n;
    }

    /// <summary>The <paramref name="kth"/>-largest value (1-based) of <paramref name="a"/>, which it reorders (quickselect).</summary>
    public static float KthLargestInPlace(Span<float> a, int kth)
    {
        int lo = 0, hi = a.Length - 1, target = kth - 1; // position in descending order
        var rng = new Rng(0x5EED);
        while (lo < hi)
        {
            float pivot = a[lo + rng.NextInt(hi - lo + 1)];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (a[i] > pivot) i++;
                while (a[j] < pivot) j--;
                if (i <= j) { (a[i], a[j]) = (a[j], a[i]); i++; j--; }
            }
            if (target <= j) hi = j;
            else if (target >= i) lo = i;
            else return a[target];
        }
        return a[target];
    }
}
