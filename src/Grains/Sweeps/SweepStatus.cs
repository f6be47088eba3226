namespace SaeCluster.Grains;

/// <summary>
/// A sweep as the API and saectl show it: state (running, done, failed, cancelled), producers, per trainer
/// (one per layer × site) its progress and each SAE's latest numbers, and why it waits, when it does.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SweepStatus(
    [property: Id(0)] string Id,
    [property: Id(1)] string State,
    [property: Id(2)] DateTimeOffset? Submitted,
    [property: Id(3)] DateTimeOffset? Finished,
    [property: Id(4)] string? Error,
    [property: Id(5)] int Producers,
    [property: Id(6)] int ProducersDone,
    [property: Id(7)] long TokensProduced,
    [property: Id(8)] long TokensToProduce,
    [property: Id(9)] IReadOnlyList<TrainerStatus> Trainers,
    [property: Id(10)] string? Message = null)
{
    public bool IsTerminal => State is "done" or "failed" or "cancelled";
}

/// <summary>One trainer: its site, lifecycle state, phase (queued, waiting, training, evaluating, writing, done), tokens, silo and SAEs.</summary>
[GenerateSerializer, Immutable]
public sealed record TrainerStatus(
    [property: Id(0)] string Site,
    [property: Id(1)] string State,
    [property: Id(2)] string Phase,
    [property: Id(3)] long Tokens,
    [property: Id(4)] long TotalTokens,
    [property: Id(5)] double TokensPerSecond,
    [property: Id(6)] string? Silo,
    [property: Id(7)] IReadOnlyList<SaeStatus> Saes,
    [property: Id(8)] string? Error);

/// <summary>
/// One SAE's latest training numbers (or its final evaluation once done: with the blob folder it was written
/// to and the MSE), as trainers report them and the API shows them; and, once its site's evaluation in the model
/// is done, its delta LM loss and CE loss score.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SaeStatus(
    [property: Id(0)] string Name,
    [property: Id(1)] double L0,
    [property: Id(2)] double Fvu,
    [property: Id(3)] double DeadFraction,
    [property: Id(4)] double? Loss,
    [property: Id(5)] string? Output,
    [property: Id(6)] double? Mse = null,
    [property: Id(7)] double? DeltaLoss = null,
    [property: Id(8)] double? CeLossScore = null);
