namespace SaeCluster.Grains;

/// <summary>One SAE's latest training numbers, or its final evaluation once done (with the blob folder it was written to).</summary>
[GenerateSerializer, Immutable]
public sealed record SaeReport(
    [property: Id(0)] string Name,
    [property: Id(1)] double L0,
    [property: Id(2)] double Fvu,
    [property: Id(3)] double DeadFraction,
    [property: Id(4)] double? Loss,
    [property: Id(5)] string? Output,
    [property: Id(6)] double? Mse = null);
