using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace SaeCluster.Grains;

/// <summary>Keeps the candidate silos whose <c>role</c> metadata lists the grain's role.</summary>
public sealed class RolePlacementDirector(ISiloMetadataCache metadata) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        string role = ((RolePlacementStrategy)filterStrategy).Role;
        return silos.Where(s => SiloRoles.Has(metadata.GetSiloMetadata(s).Metadata.GetValueOrDefault(SiloRoles.RoleKey), role));
    }
}
