namespace SaeCluster.Grains;

/// <summary>What an evaluator tells its sweep: its site, status, silo, phase, tokens evaluated so far, and at the end each SAE's numbers.</summary>
[GenerateSerializer, Immutable]
public sealed record EvaluatorReport(
    [property: Id(0)] string Site,
    [property: Id(1)] WorkStatus Status,
    [property: Id(2)] long Epoch,
    [property: Id(3)] string? Silo,
    [property: Id(4)] string Phase,
    [property: Id(5)] long Tokens,
    [property: Id(6)] string? Error,
    [property: Id(7)] IReadOnlyList<SaeModelEval> Results);
