namespace SaeCluster.Grains;

/// <summary>A sweep with this name was already submitted to the cluster.</summary>
public sealed class SweepExistsException(string id, string state)
    : Exception($"a sweep named '{id}' already exists ({state}); change name: in the YAML, or cancel and delete the old sweep")
{
    public string Id { get; } = id;
}
