namespace SaeCluster.Grains;

/// <summary>What a producer tells its sweep: status, where it runs, its committed shards, tokens, and where the corpus ended (if it did in its range).</summary>
[GenerateSerializer, Immutable]
public sealed record ProducerReport(
    [property: Id(0)] int Index,
    [property: Id(1)] WorkStatus Status,
    [property: Id(2)] long Epoch,
    [property: Id(3)] string? Silo,
    [property: Id(4)] string Phase,
    [property: Id(5)] long Tokens,
    [property: Id(6)] double TokensPerSecond,
    [property: Id(7)] int? End,
    [property: Id(8)] string? Error,
    [property: Id(9)] IReadOnlyList<ShardRecord> Shards);
