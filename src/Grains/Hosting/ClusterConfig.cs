using System.Net;

namespace SaeCluster.Grains;

/// <summary>
/// Everything a SaeCluster silo (or an API-only Orleans client) is configured from: where the cluster
/// keeps its state, the Orleans service and cluster ids, this silo's name, roles and ports, how this silo
/// runs work, how sweeps drive it, and how fast a dead silo is detected.
/// </summary>
public sealed record ClusterConfig
{
    public required ClusterLocation Location { get; init; }
    /// <summary>Orleans ServiceId: grain state and reminders are keyed by it — keep it stable across deployments of one cluster.</summary>
    public string ServiceId { get; init; } = "saecluster";
    /// <summary>Orleans ClusterId: silos with the same one form a cluster.</summary>
    public string ClusterId { get; init; } = "saecluster";
    public string SiloName { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}".ToLowerInvariant();
    /// <summary>Roles (see <see cref="SiloRoles"/>); [api] for an Orleans client.</summary>
    public IReadOnlyList<string> Roles { get; init; } = SiloRoles.All;
    public int SiloPort { get; init; } = 11111;
    public int GatewayPort { get; init; } = 30000;
    /// <summary>The address other silos reach this one at; null lets Orleans pick (or Kubernetes hosting, from the pod).</summary>
    public IPAddress? AdvertisedAddress { get; init; }
    /// <summary>Extra silo metadata (e.g. gpu=true), besides role and slots.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    public WorkOptions Work { get; init; } = new();
    public SweepOptions Sweeps { get; init; } = new();
    /// <summary>Membership failure detection: a silo missing this many probes of this timeout is declared dead (production: Orleans' defaults).</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public int MissedProbes { get; init; } = 3;
    /// <summary>Suspicions from other silos that declare a silo dead (Orleans' default 2; a 2-silo cluster needs 1, having one other silo).</summary>
    public int DeathVotes { get; init; } = 2;
    /// <summary>Take the silo name, address and cluster ids from the pod (Microsoft.Orleans.Hosting.Kubernetes).</summary>
    public bool Kubernetes { get; init; }

    /// <summary>How long an API-only client keeps trying to reach a gateway at start-up.</summary>
    public TimeSpan ConnectWait { get; init; }

    public bool ApiOnly => Roles is [SiloRoles.Api];
}
