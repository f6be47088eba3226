using Orleans.Metadata;
using Orleans.Placement;
using Orleans.Runtime;

namespace SaeCluster.Grains;

/// <summary>The role a grain class needs, carried in the grain type's properties so every silo filters the same way.</summary>
public sealed class RolePlacementStrategy : PlacementFilterStrategy
{
    const string RoleProperty = "role";

    public string Role { get; private set; } = "";

    public RolePlacementStrategy() : base(order: 0) { }

    public RolePlacementStrategy(string role) : base(order: 0) => Role = role;

    public override void AdditionalInitialize(GrainProperties properties) =>
        Role = GetPlacementFilterGrainProperty(RoleProperty, properties) ?? "";

    protected override IEnumerable<KeyValuePair<string, string>> GetAdditionalGrainProperties(IServiceProvider services, Type grainClass,
        GrainType grainType, IReadOnlyDictionary<string, string> existingProperties)
    {
        yield return new(RoleProperty, Role);
    }
}
