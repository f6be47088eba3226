using Orleans.Placement;

namespace SaeCluster.Grains;

/// <summary>
/// Places the grain class only on silos whose metadata lists <paramref name="role"/> (see <see cref="SiloRoles"/>).
/// Orleans' own metadata filters compare with the calling silo's metadata; this one asks for a fixed role.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class RolePlacementAttribute(string role) : PlacementFilterAttribute(new RolePlacementStrategy(role));
