using System.Collections.Concurrent;

namespace SaeCluster.Grains;

/// <summary>The sweep spec an actor works for, read from its coordinator's row (parsed once per process).</summary>
public static class SweepSpecCache
{
    static readonly ConcurrentDictionary<string, SweepSpec> Parsed = new();

    public static async Task<SweepSpec> LoadAsync(IClusterStore store, string sweep, CancellationToken ct)
    {
        var coord = await store.GetAsync(SweepKeys.Coordinator(sweep), ct) ?? throw new ActorFailedException($"sweep '{sweep}' has no coordinator (deleted?)");
        string yaml = (string?)ActorState.Parse(coord.State)["spec"] ?? throw new ActorFailedException($"sweep '{sweep}': the coordinator holds no spec");
        try { return Parsed.GetOrAdd(yaml, y => SweepSpec.Parse(y, "/", SweepKeys.Coordinator(sweep))); }
        catch (Sae.ConfigException e) { throw new ActorFailedException($"sweep '{sweep}' cannot run on silo {Environment.MachineName}: {e.Message}", e); }
    }
}
