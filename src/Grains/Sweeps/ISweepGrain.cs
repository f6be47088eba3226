namespace SaeCluster.Grains;

/// <summary>
/// One sweep (keyed by its name): expands into producers and trainers, drives them from a grain timer
/// (and a durable reminder that brings the sweep back after its silo is lost), and ends done, failed or
/// cancelled. Read-only calls and the children's reports interleave with the sweep's own work.
/// </summary>
public interface ISweepGrain : IGrainWithStringKey
{
    /// <summary>Stores a validated sweep (canonical YAML) and starts it; refused when the name is taken.</summary>
    Task<SubmitResult> SubmitAsync(string yaml, CancellationToken ct = default);

    /// <summary>The sweep's status, or null when there is no such sweep.</summary>
    [AlwaysInterleave]
    Task<SweepStatus?> GetStatusAsync(CancellationToken ct = default);

    /// <summary>The canonical YAML, or null when there is no such sweep.</summary>
    [AlwaysInterleave]
    Task<string?> GetSpecAsync(CancellationToken ct = default);

    /// <summary>The shards of one site (<c>{layer}.{site}</c>) committed so far, for its trainer.</summary>
    [AlwaysInterleave]
    Task<ShardCatalog> GetCatalogAsync(string site, CancellationToken ct = default);

    /// <summary>The sweep and every producer and trainer, as far as the sweep knows them.</summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<WorkView>> GetWorkAsync(CancellationToken ct = default);

    [AlwaysInterleave, OneWay]
    Task ReportProducerAsync(ProducerReport report);

    [AlwaysInterleave, OneWay]
    Task ReportTrainerAsync(TrainerReport report);

    [AlwaysInterleave, OneWay]
    Task ReportEvaluatorAsync(EvaluatorReport report);

    /// <summary>Cancels the sweep and ends its unfinished work; false when there is no such sweep.</summary>
    Task<bool> CancelAsync(CancellationToken ct = default);

    /// <summary>Cancels the sweep, then removes its state, its children's and every blob under it; false when there is no such sweep.</summary>
    Task<bool> DeleteAsync(CancellationToken ct = default);
}
