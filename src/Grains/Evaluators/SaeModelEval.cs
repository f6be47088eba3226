namespace SaeCluster.Grains;

/// <summary>One SAE's numbers from the evaluation in the model, as the sweep's status and /metrics show them.</summary>
[GenerateSerializer, Immutable]
public sealed record SaeModelEval(
    [property: Id(0)] string Name,
    [property: Id(1)] double L0,
    [property: Id(2)] double Fvu,
    [property: Id(3)] double DeltaLoss,
    [property: Id(4)] double CeLossScore,
    [property: Id(5)] double Kl,
    [property: Id(6)] double CeClean,
    [property: Id(7)] double CeZero);
