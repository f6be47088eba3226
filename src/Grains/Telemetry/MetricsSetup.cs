using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace SaeCluster.Grains;

/// <summary>The meters every SaeCluster process exports through OpenTelemetry: ours, GEMM's, and Orleans' own.</summary>
public static class MetricsSetup
{
    public const string ComputeMeter = "SaeCluster.Compute", OrleansMeter = "Microsoft.Orleans";

    public static readonly string[] Meters = [SaeClusterMetrics.MeterName, ComputeMeter, OrleansMeter];

    /// <summary>Adds our meters (histogram buckets come from each instrument's advice) and names the process in target_info.</summary>
    public static MeterProviderBuilder AddSaeClusterMeters(this MeterProviderBuilder metrics, string service, string instance) =>
        metrics.SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(service, serviceInstanceId: instance, autoGenerateServiceInstanceId: false))
            .AddMeter(Meters);
}
