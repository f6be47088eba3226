namespace SaeCluster.Grains;

/// <summary>The active silos with their metadata (roles, slots, gpu), answered by any silo — also for an API-only client, which has no membership view of its own.</summary>
public interface IClusterInfoGrain : IGrainWithIntegerKey
{
    Task<IReadOnlyList<SiloView>> GetSilosAsync();
}

[StatelessWorker]
public sealed class ClusterInfoGrain(ClusterRoles roles) : Grain, IClusterInfoGrain
{
    public Task<IReadOnlyList<SiloView>> GetSilosAsync() => Task.FromResult(roles.Silos());
}
