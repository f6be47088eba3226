using Microsoft.Extensions.Logging;

namespace SaeCluster.Grains;

/// <summary>
/// An API-only process starting before the silos (pods coming up in any order) keeps trying to reach a
/// gateway for <c>--wait-seconds</c>, then gives up with Orleans' error.
/// </summary>
public sealed class GatewayRetryFilter(ClusterConfig config, ILogger<GatewayRetryFilter> log) : IClientConnectionRetryFilter
{
    readonly DateTime _until = DateTime.UtcNow + config.ConnectWait;

    public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
    {
        if (DateTime.UtcNow >= _until) return false;
        log.LogWarning("waiting for a gateway of cluster {Cluster} ({Message}); retrying for {Seconds:F0} s more", config.ClusterId, exception.Message, (_until - DateTime.UtcNow).TotalSeconds);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        return true;
    }
}
