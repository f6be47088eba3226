using System.Diagnostics;
using System.Numerics.Tensors;

namespace SaeCluster.Compute;

/// <summary>
/// Sustained memory bandwidth of this machine as STREAM's triad measures it (a = b + s·c over arrays far
/// larger than the caches, split over the cores), so a benchmark can state a memory-bound phase against
/// the hardware limit measured in the same run.
/// </summary>
public static class MemoryBandwidth
{
    /// <summary>Best GB/s (10⁹ bytes: two arrays read, one written) over <paramref name="repeats"/> passes after a warm-up.</summary>
    public static double MeasureGBps(int floatsPerArray = 1 << 25, int repeats = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(floatsPerArray, 1 << 16);
        var a = GC.AllocateUninitializedArray<float>(floatsPerArray);
        var b = GC.AllocateUninitializedArray<float>(floatsPerArray);
        var c = GC.AllocateUninitializedArray<float>(floatsPerArray);
        const int Chunk = 1 << 16;
        int chunks = (floatsPerArray + Chunk - 1) / Chunk;
        Parallel.For(0, chunks, i =>
        {
            int lo = i * Chunk, len = Math.Min(Chunk, floatsPerArray - lo);
            b.AsSpan(lo, len).Fill(1f); c.AsSpan(lo, len).Fill(2f);
        });
        double best = double.MaxValue;
        for (int r = 0; r <= repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            Parallel.For(0, chunks, i =>
            {
                int lo = i * Chunk, len = Math.Min(Chunk, floatsPerArray - lo);
                TensorPrimitives.MultiplyAdd(c.AsSpan(lo, len), 0.5f, b.AsSpan(lo, len), a.AsSpan(lo, len));
            });
            double s = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (r > 0) best = Math.Min(best, s); // pass 0 warms up (page faults on a)
        }
        return 3.0 * sizeof(float) * floatsPerArray / best / 1e9;
    }
}
