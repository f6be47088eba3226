namespace SaeCluster.Grains;

/// <summary>The names of every sweep in the cluster (one grain, key <see cref="Key"/>), for listing.</summary>
public interface ISweepIndexGrain : IGrainWithStringKey
{
    const string Key = "all";

    Task AddAsync(string sweep);

    Task RemoveAsync(string sweep);

    [AlwaysInterleave]
    Task<IReadOnlyList<string>> ListAsync(CancellationToken ct = default);
}
