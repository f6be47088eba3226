using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SaeCluster.Compute;

/// <summary>
/// GEMM throughput for /metrics (meter <c>SaeCluster.Compute</c>): floating-point operations done and
/// seconds spent, by precision and backend. rate(flops) / rate(seconds) is the FLOP/s GEMMs run at;
/// rate(flops) alone is what the process delivers. A call adds to two plain counters (nothing at all
/// while no listener is attached); the observable instruments read them at scrape time.
/// </summary>
static class GemmMetrics
{
    static readonly string[] Precisions = ["f32", "bf16"];
    static readonly string[] Backends = ["onednn", "managed"];
    static readonly long[] s_flops = new long[4], s_ticks = new long[4]; // [precision * 2 + backend]

    static readonly Meter Meter = new("SaeCluster.Compute");
    static readonly ObservableCounter<long> Flops = Meter.CreateObservableCounter("saecluster.gemm.flops", () => Read(s_flops, f => f),
        "{flop}", "Floating-point operations done by GEMMs (2·m·n·k each)");
    static readonly ObservableCounter<double> Seconds = Meter.CreateObservableCounter("saecluster.gemm.duration", () => Read(s_ticks, t => (double)t / Stopwatch.Frequency),
        "s", "Time spent in GEMMs");

    public static bool Enabled => Flops.Enabled;

    /// <param name="precision">0 = f32, 1 = bf16.</param>
    public static void Record(int precision, int m, int n, int k, long startTimestamp)
    {
        bool native = precision == 0 ? Gemm.UseNative : Gemm.HasFastBf16; // bf16 without oneDNN's kernel is widened and run managed
        int i = precision * 2 + (native ? 0 : 1);
        Interlocked.Add(ref s_flops[i], 2L * m * n * k);
        Interlocked.Add(ref s_ticks[i], Stopwatch.GetTimestamp() - startTimestamp);
    }

    static IEnumerable<Measurement<T>> Read<T>(long[] totals, Func<long, T> convert) where T : struct
    {
        for (int i = 0; i < totals.Length; i++)
        {
            long v = Interlocked.Read(ref totals[i]);
            if (Interlocked.Read(ref s_flops[i]) > 0)
                yield return new Measurement<T>(convert(v), new("precision", Precisions[i / 2]), new("backend", Backends[i % 2]));
        }
    }
}
