using System.Collections.Concurrent;

namespace SaeCluster.Grains;

/// <summary>Sweep specs parsed from their canonical YAML, once per process (every producer and trainer of a sweep needs it).</summary>
public static class SweepSpecCache
{
    static readonly ConcurrentDictionary<string, SweepSpec> Parsed = new();

    /// <summary>The spec of <paramref name="sweep"/>; a YAML this silo cannot use (a model folder it lacks) is a <see cref="WorkFailedException"/>.</summary>
    public static SweepSpec Get(string sweep, string yaml)
    {
        try { return Parsed.GetOrAdd(yaml, y => SweepSpec.Parse(y, "/", sweep)); }
        catch (Sae.ConfigException e) { throw new WorkFailedException($"sweep '{sweep}' cannot run on silo {Environment.MachineName}: {e.Message}", e); }
    }
}
