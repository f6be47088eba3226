namespace SaeCluster.Grains;

/// <summary>
/// A sweep's durable state: its canonical YAML, when it was submitted and finished, its status and
/// error, and what must survive the sweep's own re-activation without asking every child again — the
/// final reports of finished trainers (their SAEs' numbers) and of finished producers (whose shard
/// lists are kept in the blob store's <c>{sweep}/catalog/</c>).
/// </summary>
[GenerateSerializer]
public sealed class SweepState
{
    [Id(0)] public string Spec { get; set; } = "";
    [Id(1)] public DateTimeOffset Submitted { get; set; }
    [Id(2)] public DateTimeOffset? Finished { get; set; }
    [Id(3)] public WorkStatus Status { get; set; }
    [Id(4)] public string? Error { get; set; }
    [Id(5)] public Dictionary<string, TrainerReport> FinishedTrainers { get; set; } = [];
    /// <summary>Finished producers, without their shard lists (those are in the catalog blobs).</summary>
    [Id(6)] public Dictionary<int, ProducerReport> FinishedProducers { get; set; } = [];
    /// <summary>Finished in-model evaluations, by site.</summary>
    [Id(7)] public Dictionary<string, EvaluatorReport> FinishedEvaluators { get; set; } = [];
}
