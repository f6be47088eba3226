using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SaeCluster.Compute;

/// <summary>
/// GEMM throughput for /metrics (meter <c>SaeCluster.Compute</c>): floating-point operations done and
/// seconds spent, by precision and backend. rate(flops) / rate(seconds) is the FLOP/s GEMMs run at;
/// rate(flops) alone is what the process delivers.
/// </summary>
static class GemmMetrics
{
    static readonly Meter Meter = new("SaeCluster.Compute");
    static readonly Counter<long> Flops = Meter.CreateCounter<long>("saecluster.gemm.flops", "{flop}", "Floating-point operations done by GEMMs (2·m·n·k each)");
    static readonly Counter<double> Seconds = Meter.CreateCounter<double>("saecluster.gemm.duration", "s", "Time spent in GEMMs");

    public static bool Enabled => Flops.Enabled;

    public static void Record(string precision, int m, int n, int k, long startTimestamp)
    {
        var p = new KeyValuePair<string, object?>("precision", precision);
        var b = new KeyValuePair<string, object?>("backend", Gemm.Backend);
        Flops.Add(2L * m * n * k, p, b);
        Seconds.Add(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, p, b);
    }
}
