using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace SaeCluster.Grains;

/// <summary>Which roles the active silos of the cluster offer right now (from membership and silo metadata).</summary>
public sealed class ClusterRoles(IClusterMembershipService membership, ISiloMetadataCache metadata)
{
    /// <summary>True when at least one active silo has <paramref name="role"/>.</summary>
    public bool Available(string role) => Silos().Any(s => SiloRoles.Has(s.Metadata.GetValueOrDefault(SiloRoles.RoleKey), role));

    /// <summary>Slots of <paramref name="kind"/> over the active silos with that role (from their <c>slots</c> metadata).</summary>
    public int Slots(string kind)
    {
        int total = 0;
        foreach (var s in Silos())
        {
            if (!SiloRoles.Has(s.Metadata.GetValueOrDefault(SiloRoles.RoleKey), kind)) continue;
            foreach (var part in (s.Metadata.GetValueOrDefault(SiloRoles.SlotsKey) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
                if (part.Split('=') is [var k, var v] && k == kind && int.TryParse(v, out int n)) total += n;
        }
        return total;
    }

    /// <summary>Every silo in the membership snapshot with its status and metadata, by name.</summary>
    public IReadOnlyList<SiloView> Silos() =>
        [.. membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => new SiloView(m.Name, m.SiloAddress.ToParsableString(), m.Status.ToString(), metadata.GetSiloMetadata(m.SiloAddress).Metadata))
            .OrderBy(s => s.Name, StringComparer.Ordinal)];
}

/// <summary>An active silo: its name, address, membership status and metadata (role, gpu, slots).</summary>
[GenerateSerializer, Immutable]
public sealed record SiloView(
    [property: Id(0)] string Name,
    [property: Id(1)] string Address,
    [property: Id(2)] string Status,
    [property: Id(3)] IReadOnlyDictionary<string, string> Metadata);
