namespace SaeCluster.Grains;

/// <summary>
/// The shards of one site committed so far, by index: rows and SHA-256 of each (what the producers
/// recorded when they committed it). <see cref="Complete"/> once every producer has finished;
/// <see cref="TotalShards"/> is then the number of shards the stream has (the corpus may end early).
/// </summary>
public sealed record ShardCatalog(IReadOnlyDictionary<int, ShardEntry> Shards, bool Complete, int TotalShards);

/// <summary>A committed shard: its blob, rows and checksum.</summary>
public sealed record ShardEntry(string Blob, long Rows, string Sha256);
