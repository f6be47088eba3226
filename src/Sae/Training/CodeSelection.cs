using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// Turns dense pre-activations into sparse codes, one rule per architecture. Every routine first adds
/// b_enc to the row (so z = x·W_enc + b_enc is complete in <c>pre</c> afterwards) while it is hot in cache.
/// </summary>
public static class CodeSelection
{
    const int RowsPerTask = 8;

    /// <summary>TopK: the k largest positive z per row.</summary>
    public static void TopK(float[] pre, int rows, int width, float[] bEnc, int k, SparseCodes codes)
    {
        codes.ResetStrided(rows, k);
                ForRows(rows, b =>
        {
            var z = pre.AsSpan(b * width, width);
            TensorPrimitives.Add(z, bEnc, z);
            codes.Count[b] = Compute.TopK.RowTopKPositive(z, k, codes.Col.AsSpan(codes.Start[b], k), codes.Val.AsSpan(codes.Start[b], k));
        });
    }

    /// <summary>BatchTopK: the k·rows largest positive z over the whole batch. Returns the smallest kept value.</summary>
    public static float BatchTopK(float[] pre, int rows, int width, float[] bEnc, int k, SparseCodes codes, int[] counts)
    {
                AddBias(pre, rows, width, bEnc);
        float kth = Compute.TopK.KthLargestPositive(pre.AsSpan(0, rows * width), (long)k * rows);
        if (float.IsPositiveInfinity(kth)) { codes.ResetFromCounts(new int[rows]); return 0f; }
        SharedThreshold(pre, rows, width, MathF.BitDecrement(kth), codes, counts);
        return kth;
    }

    /// <summary>ReLU: every positive z (bias added here).</summary>
    public static void Relu(float[] pre, int rows, int width, float[] bEnc, SparseCodes codes, int[] counts)
    {
                AddBias(pre, rows, width, bEnc);
        SharedThreshold(pre, rows, width, 0f, codes, counts);
    }

    /// <summary>Keeps z &gt; threshold (one threshold for every latent); z must already include b_enc.</summary>
    public static void SharedThreshold(float[] pre, int rows, int width, float threshold, SparseCodes codes, int[] counts)
    {
        ForRows(rows, b => counts[b] = CollectAbove(pre.AsSpan(b * width, width), threshold, default, default));
        codes.ResetFromCounts(counts.AsSpan(0, rows));
        ForRows(rows, b => CollectAbove(pre.AsSpan(b * width, width), threshold, codes.RowCols(b), codes.RowVals(b)));
    }

    /// <summary>
    /// JumpReLU: z &gt; θⱼ is active (f = z); with <paramref name="near"/> also collects |z − θⱼ| &lt; halfBandwidth,
    /// the entries whose threshold gets a straight-through gradient. Bias added here.
    /// </summary>
    public static void JumpRelu(float[] pre, int rows, int width, float[] bEnc, float[] theta,
        SparseCodes codes, int[] counts, SparseCodes? near, int[] nearCounts, float halfBandwidth, bool addBias = true)
    {
        float[] th = theta;
        ForRows(rows, b =>
        {
            var z = pre.AsSpan(b * width, width);
            if (addBias) TensorPrimitives.Add(z, bEnc, z);
            counts[b] = CollectAbove(z, th, default, default);
            if (near != null) nearCounts[b] = CollectNear(z, th, halfBandwidth, default, default);
        });
        codes.ResetFromCounts(counts.AsSpan(0, rows));
        near?.ResetFromCounts(nearCounts.AsSpan(0, rows));
        ForRows(rows, b =>
        {
            var z = pre.AsSpan(b * width, width);
            CollectAbove(z, th, codes.RowCols(b), codes.RowVals(b));
            if (near != null) CollectNear(z, th, halfBandwidth, near.RowCols(b), near.RowVals(b));
        });
    }

    /// <summary>
    /// Per row, the <paramref name="k"/> largest positive z among the listed latents (AuxK over dead latents).
    /// </summary>
    public static void TopKAmong(float[] pre, int rows, int width, int[] latents, int latentCount, int k, SparseCodes codes)
    {
        k = Math.Min(k, latentCount);
        codes.ResetStrided(rows, k);
        if (k == 0) return;
        Parallel.For(0, (rows + RowsPerTask - 1) / RowsPerTask, t =>
        {
            float[] gathered = System.Buffers.ArrayPool<float>.Shared.Rent(latentCount);
            float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(latentCount);
            int hi = Math.Min(rows, (t + 1) * RowsPerTask);
            for (int b = t * RowsPerTask; b < hi; b++)
            {
                var z = pre.AsSpan(b * width, width);
                for (int i = 0; i < latentCount; i++) gathered[i] = z[latents[i]];
                var cols = codes.Col.AsSpan(codes.Start[b], k);
                var vals = codes.Val.AsSpan(codes.Start[b], k);
                var row = gathered.AsSpan(0, latentCount);
                int c = k > 64
                    ? Compute.TopK.RowTopKPositiveBySelection(row, k, cols, vals, scratch)
                    : Compute.TopK.RowTopKPositive(row, k, cols, vals);
                for (int i = 0; i < c; i++) cols[i] = latents[cols[i]];
                codes.Count[b] = c;
            }
            System.Buffers.ArrayPool<float>.Shared.Return(gathered);
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
        });
    }

    /// <summary>z = pre + b_enc, row by row.</summary>
    public static void AddBias(float[] pre, int rows, int width, float[] bEnc) =>
        ForRows(rows, b => { var z = pre.AsSpan(b * width, width); TensorPrimitives.Add(z, bEnc, z); });

    static void ForRows(int rows, Action<int> body) =>
        Parallel.For(0, (rows + RowsPerTask - 1) / RowsPerTask, t =>
        {
            int hi = Math.Min(rows, (t + 1) * RowsPerTask);
            for (int b = t * RowsPerTask; b < hi; b++) body(b);
        });

    // Collects (or, with empty outputs, counts) j with z[j] > thr (scalar) in index order.
    static int CollectAbove(ReadOnlySpan<float> z, float thr, Span<int> cols, Span<float> vals)
    {
        bool write = !cols.IsEmpty;
        int n = 0, j = 0;
        ref float z0 = ref MemoryMarshal.GetReference(z);
        if (Vector512.IsHardwareAccelerated)
        {
            var t = Vector512.Create(thr);
            for (; j + 16 <= z.Length; j += 16)
            {
                ulong mask = Vector512.GreaterThan(Vector512.LoadUnsafe(ref z0, (nuint)j), t).ExtractMostSignificantBits();
                if (!write) { n += BitOperations.PopCount(mask); continue; }
                while (mask != 0) { int l = BitOperations.TrailingZeroCount(mask); mask &= mask - 1; cols[n] = j + l; vals[n++] = z[j + l]; }
            }
        }
        for (; j < z.Length; j++)
            if (z[j] > thr) { if (write) { cols[n] = j; vals[n] = z[j]; } n++; }
        return n;
    }

    // Same with a threshold per latent.
    static int CollectAbove(ReadOnlySpan<float> z, ReadOnlySpan<float> thr, Span<int> cols, Span<float> vals)
    {
        bool write = !cols.IsEmpty;
        int n = 0, j = 0;
        ref float z0 = ref MemoryMarshal.GetReference(z);
        ref float t0 = ref MemoryMarshal.GetReference(thr);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 16 <= z.Length; j += 16)
            {
                ulong mask = Vector512.GreaterThan(Vector512.LoadUnsafe(ref z0, (nuint)j), Vector512.LoadUnsafe(ref t0, (nuint)j)).ExtractMostSignificantBits();
                if (!write) { n += BitOperations.PopCount(mask); continue; }
                while (mask != 0) { int l = BitOperations.TrailingZeroCount(mask); mask &= mask - 1; cols[n] = j + l; vals[n++] = z[j + l]; }
            }
        }
        for (; j < z.Length; j++)
            if (z[j] > thr[j]) { if (write) { cols[n] = j; vals[n] = z[j]; } n++; }
        return n;
    }

    // j with |z[j] − θ[j]| < h; the value stored is z.
    static int CollectNear(ReadOnlySpan<float> z, ReadOnlySpan<float> thr, float h, Span<int> cols, Span<float> vals)
    {
        bool write = !cols.IsEmpty;
        int n = 0, j = 0;
        ref float z0 = ref MemoryMarshal.GetReference(z);
        ref float t0 = ref MemoryMarshal.GetReference(thr);
        if (Vector512.IsHardwareAccelerated)
        {
            var hv = Vector512.Create(h);
            for (; j + 16 <= z.Length; j += 16)
            {
                var d = Vector512.Abs(Vector512.LoadUnsafe(ref z0, (nuint)j) - Vector512.LoadUnsafe(ref t0, (nuint)j));
                ulong mask = Vector512.LessThan(d, hv).ExtractMostSignificantBits();
                if (!write) { n += BitOperations.PopCount(mask); continue; }
                while (mask != 0) { int l = BitOperations.TrailingZeroCount(mask); mask &= mask - 1; cols[n] = j + l; vals[n++] = z[j + l]; }
            }
        }
        for (; j < z.Length; j++)
            if (MathF.Abs(z[j] - thr[j]) < h) { if (write) { cols[n] = j; vals[n] = z[j]; } n++; }
        return n;
    }
}
