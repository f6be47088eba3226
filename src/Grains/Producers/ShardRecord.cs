namespace SaeCluster.Grains;

/// <summary>One committed shard of a producer: its index, its rows, and per site (<c>{layer}.{site}</c>) the blob and SHA-256.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardRecord(
    [property: Id(0)] int Index,
    [property: Id(1)] long Rows,
    [property: Id(2)] IReadOnlyDictionary<string, ShardBlob> Sites);

[GenerateSerializer, Immutable]
public sealed record ShardBlob(
    [property: Id(0)] string Blob,
    [property: Id(1)] string Sha256);
