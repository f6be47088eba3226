namespace SaeCluster.Grains;

/// <summary>
/// A producer's durable state: the shards it committed (each one becomes part of the catalog trainers
/// stream from only through this ETag-checked state), the tokens they hold, and — once the corpus ran
/// out inside its range — the index of the first shard that does not exist.
/// </summary>
[GenerateSerializer]
public sealed class ProducerState : WorkState
{
    [Id(0)] public List<ShardRecord> Shards { get; set; } = [];
    [Id(1)] public long Tokens { get; set; }
    [Id(2)] public double TokensPerSecond { get; set; }
    [Id(3)] public int? End { get; set; }
}
