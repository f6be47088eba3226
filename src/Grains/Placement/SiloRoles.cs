namespace SaeCluster.Grains;

/// <summary>
/// What a silo runs, announced in its Orleans silo metadata (<c>role=coordinator,producer,trainer</c>)
/// and matched by <see cref="RolePlacementAttribute"/>: sweeps go to coordinator silos, activation
/// producers to producer silos (GPU nodes in Kubernetes), SAE trainers to trainer silos. An API-only
/// process (<c>--role api</c>) is an Orleans client and runs nothing.
/// </summary>
public static class SiloRoles
{
    public const string Coordinator = "coordinator";
    public const string Producer = "producer";
    public const string Trainer = "trainer";
    public const string Api = "api";

    /// <summary>The roles a silo can have (all three by default).</summary>
    public static readonly string[] All = [Coordinator, Producer, Trainer];

    /// <summary>Silo metadata keys.</summary>
    public const string RoleKey = "role", GpuKey = "gpu", SlotsKey = "slots";

    /// <summary>
    /// Parses <c>coordinator,producer,trainer</c> (any non-empty subset) or <c>api</c>; an empty list means
    /// <see cref="All"/>. Throws <see cref="ArgumentException"/> naming <paramref name="field"/> for anything else.
    /// </summary>
    public static IReadOnlyList<string> Parse(string? spec, string field = "--role")
    {
        var parts = (spec ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.ToLowerInvariant()).Distinct().ToArray();
        if (parts.Length == 0) return All;
        if (parts.Contains(Api))
        {
            if (parts.Length > 1) throw new ArgumentException($"{field}: '{spec}': api runs no work and cannot be combined with other roles");
            return [Api];
        }
        foreach (var p in parts)
            if (!All.Contains(p)) throw new ArgumentException($"{field}: unknown role '{p}' (coordinator, producer, trainer, or api alone)");
        return [.. All.Where(parts.Contains)];
    }

    /// <summary>True when a silo's <c>role</c> metadata value lists <paramref name="role"/>.</summary>
    public static bool Has(string? roleMetadata, string role) =>
        roleMetadata != null && roleMetadata.Split(',', StringSplitOptions.TrimEntries).Contains(role, StringComparer.Ordinal);
}
