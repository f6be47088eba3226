namespace SaeCluster.Grains;

/// <summary>
/// The shards of one site committed so far, by index: blob, rows and SHA-256 of each (what the producers
/// recorded when they committed it). <see cref="Complete"/> once every producer has finished;
/// <see cref="TotalShards"/> is then the number of shards the stream has (the corpus may end early).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ShardCatalog(
    [property: Id(0)] IReadOnlyDictionary<int, ShardEntry> Shards,
    [property: Id(1)] bool Complete,
    [property: Id(2)] int TotalShards);

/// <summary>A committed shard of one site: its blob, rows and checksum.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardEntry(
    [property: Id(0)] string Blob,
    [property: Id(1)] long Rows,
    [property: Id(2)] string Sha256);
