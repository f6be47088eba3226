namespace SaeCluster.Grains;

/// <summary>
/// What clients do with sweeps, through the grain factory of a silo or an Orleans client: submit, list,
/// read the status of one, list its work, cancel, delete. Used by the silo's HTTP API and by the embedded
/// <c>saectl run</c> alike.
/// </summary>
public sealed class SweepService(IGrainFactory grains)
{
    ISweepGrain Sweep(string id) => grains.Sweep(id);

    /// <summary>Submits a validated sweep under its name; <see cref="SweepExistsException"/> when the name is taken.</summary>
    public async Task<string> SubmitAsync(SweepSpec spec, CancellationToken ct = default)
    {
        var result = await Sweep(spec.Name).SubmitAsync(spec.ToYaml(), ct);
        if (!result.Accepted) throw new SweepExistsException(spec.Name, result.ExistingState ?? "pending");
        return spec.Name;
    }

    /// <summary>Every sweep, by name.</summary>
    public async Task<IReadOnlyList<SweepStatus>> ListAsync(CancellationToken ct = default)
    {
        var ids = await grains.GetGrain<ISweepIndexGrain>(ISweepIndexGrain.Key).ListAsync(ct);
        var statuses = await Task.WhenAll(ids.Select(id => Sweep(id).GetStatusAsync(ct)));
        return [.. statuses.OfType<SweepStatus>()];
    }

    /// <summary>The sweep's status, or null when there is no such sweep.</summary>
    public Task<SweepStatus?> GetAsync(string id, CancellationToken ct = default) => Sweep(id).GetStatusAsync(ct);

    /// <summary>The sweep's canonical YAML, or null when there is no such sweep.</summary>
    public Task<string?> GetSpecAsync(string id, CancellationToken ct = default) => Sweep(id).GetSpecAsync(ct);

    /// <summary>The sweep, its producers and trainers (empty when there is no such sweep).</summary>
    public Task<IReadOnlyList<WorkView>> GetWorkAsync(string id, CancellationToken ct = default) => Sweep(id).GetWorkAsync(ct);

    /// <summary>Cancels the sweep and ends its running work. False when there is no such sweep.</summary>
    public Task<bool> CancelAsync(string id, CancellationToken ct = default) => Sweep(id).CancelAsync(ct);

    /// <summary>Removes the sweep: cancels what runs, then deletes its state and every blob under it. False when there is no such sweep.</summary>
    public Task<bool> DeleteAsync(string id, CancellationToken ct = default) => Sweep(id).DeleteAsync(ct);
}
