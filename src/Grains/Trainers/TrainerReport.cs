namespace SaeCluster.Grains;

/// <summary>What a trainer tells its sweep: its site, status, silo, phase, progress, last checkpoint and each SAE's numbers (the tokens to train follow from the spec, which the sweep has).</summary>
[GenerateSerializer, Immutable]
public sealed record TrainerReport(
    [property: Id(0)] string Site,
    [property: Id(1)] WorkStatus Status,
    [property: Id(2)] long Epoch,
    [property: Id(3)] string? Silo,
    [property: Id(4)] string Phase,
    [property: Id(5)] long Step,
    [property: Id(6)] long Tokens,
    [property: Id(7)] double TokensPerSecond,
    [property: Id(8)] long CheckpointStep,
    [property: Id(9)] string? Checkpoint,
    [property: Id(10)] string? Message,
    [property: Id(11)] string? Error,
    [property: Id(12)] IReadOnlyList<SaeStatus> Saes);
