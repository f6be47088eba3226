namespace SaeCluster.Grains;

/// <summary>The sweep index: a sorted set of names in grain storage. Sweeps add themselves (idempotently, on every activation) and remove themselves when deleted.</summary>
public sealed class SweepIndexGrain([PersistentState("index", StorageNames.Default)] IPersistentState<SweepIndexState> stored) : Grain, ISweepIndexGrain
{
    public async Task AddAsync(string sweep)
    {
        if (stored.State.Sweeps.Contains(sweep)) return;
        stored.State.Sweeps.Add(sweep);
        await stored.WriteStateAsync();
    }

    public async Task RemoveAsync(string sweep)
    {
        if (!stored.State.Sweeps.Remove(sweep)) return;
        await stored.WriteStateAsync();
    }

    public Task<IReadOnlyList<string>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([.. stored.State.Sweeps]);
}

[GenerateSerializer]
public sealed class SweepIndexState
{
    [Id(0)] public SortedSet<string> Sweeps { get; set; } = new(StringComparer.Ordinal);
}
