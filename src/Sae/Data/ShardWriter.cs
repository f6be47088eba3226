using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// Writes activation shards in the layout <see cref="ShardDataset"/> reads: one safetensors file per chunk,
/// <c>acts</c> [n, d] (bf16 by default) plus metadata, each committed atomically.
/// </summary>
public static class ShardWriter
{
    public static string ShardName(int chunk) => $"shard-{chunk:D5}.safetensors";

    /// <summary>Writes <paramref name="shards"/> shards of <paramref name="rowsPerShard"/> rows drawn from <paramref name="source"/>.</summary>
    public static IReadOnlyList<string> WriteFromSource(IActivationSource source, string folder, int shards, int rowsPerShard,
        SafetensorsDtype dtype = SafetensorsDtype.BF16, IReadOnlyDictionary<string, string>? metadata = null, Action<int>? progress = null)
    {
        Directory.CreateDirectory(folder);
        var paths = new List<string>();
        var rows = new float[(long)rowsPerShard * source.DIn];
        for (int c = 0; c < shards; c++)
        {
            // batches of the source's own stream, so the shards are a fixed sample of it
            source.ReadBatch(c, rowsPerShard, rows);
            var w = new SafetensorsWriter();
            w.AddBorrowed(ShardDataset.ActsTensor, rows, [rowsPerShard, source.DIn], dtype);
            foreach (var (k, v) in source.Metadata) w.Metadata[k] = v;
            if (metadata != null) foreach (var (k, v) in metadata) w.Metadata[k] = v;
            w.Metadata["chunk"] = c.ToString();
            w.Metadata["dtype"] = dtype.HeaderName();
            string path = Path.Combine(folder, ShardName(c));
            w.Write(path);
            paths.Add(path);
            progress?.Invoke(c + 1);
        }
        return paths;
    }
}
