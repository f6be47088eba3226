using System.Diagnostics;

namespace SaeCluster.Compute;

/// <summary>Measures the GEMM throughput of the backend in use, so benchmarks can report a fraction of the peak measured in the same run.</summary>
public static class GemmPeak
{
    /// <summary>
    /// Best GFLOP/s (2·m·n·k / time) over <paramref name="repeats"/> runs of C[m×n] = A[m×k]·B[k×n]
    /// (f32, or bf16 inputs with f32 output), after one warm-up run.
    /// </summary>
    public static double MeasureGflops(int m, int n, int k, bool bf16, int repeats = 3)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(m);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repeats);
        int aLen = checked(m * k), bLen = checked(k * n), cLen = checked(m * n);

        var rng = new Random(12345);
        float[] c = new float[cLen];
        float[] a32 = [], b32 = [];
        ushort[] a16 = [], b16 = [];
        if (bf16)
        {
            a16 = new ushort[aLen];
            b16 = new ushort[bLen];
            Fill(rng, a16);
            Fill(rng, b16);
        }
        else
        {
            a32 = new float[aLen];
            b32 = new float[bLen];
            Fill(rng, a32);
            Fill(rng, b32);
        }

        void RunOnce()
        {
            if (bf16) Gemm.GemmBf16(false, false, m, n, k, 1f, a16, k, b16, n, 0f, c, n);
            else Gemm.Sgemm(false, false, m, n, k, 1f, a32, k, b32, n, 0f, c, n);
        }

        RunOnce(); // warm-up: JIT, packing buffers, oneDNN kernel generation
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            RunOnce();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return 2.0 * m * n * k / best / 1e9;
    }

    private static void Fill(Random rng, Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle() * 2f - 1f;
    }

    private static void Fill(Random rng, Span<ushort> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = Bf16.FromSingle(rng.NextSingle() * 2f - 1f);
    }
}
