using System.Numerics.Tensors;

namespace SaeCluster.Compute;

/// <summary>Reductions whose result does not depend on thread scheduling (fixed chunks, summed in order).</summary>
public static class Reductions
{
    const int ChunkRows = 256;

    /// <summary>dst[c] = Σ_r m[r, c] over a row-major [rows, cols] matrix.</summary>
    public static void ColumnSum(ReadOnlySpan<float> m, int rows, int cols, Span<float> dst)
    {
        int chunks = (rows + ChunkRows - 1) / ChunkRows;
        float[] partial = System.Buffers.ArrayPool<float>.Shared.Rent(checked(chunks * cols));
        partial.AsSpan(0, chunks * cols).Clear();
        unsafe
        {
            fixed (float* pm = m)
            {
                float* p = pm;
                Parallel.For(0, chunks, c =>
                {
                    var acc = partial.AsSpan(c * cols, cols);
                    int hi = Math.Min(rows, (c + 1) * ChunkRows);
                    for (int r = c * ChunkRows; r < hi; r++)
                        TensorPrimitives.Add(acc, new ReadOnlySpan<float>(p + (long)r * cols, cols), acc);
                });
            }
        }
        dst[..cols].Clear();
        for (int c = 0; c < chunks; c++) TensorPrimitives.Add(dst[..cols], partial.AsSpan(c * cols, cols), dst[..cols]);
        System.Buffers.ArrayPool<float>.Shared.Return(partial);
    }

    /// <summary>Σ values in fixed order of fixed-size chunks (double accumulation).</summary>
    public static double Sum(ReadOnlySpan<float> values)
    {
        double s = 0;
        for (int i = 0; i < values.Length; i += 4096)
            s += TensorPrimitives.Sum(values.Slice(i, Math.Min(4096, values.Length - i)));
        return s;
    }

    /// <summary>‖a − b‖².</summary>
    public static float SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float q = TensorPrimitives.Distance(a, b);
        return q * q;
    }
}
