namespace SaeCluster.Sae;

/// <summary>Bad input data (missing folder, corrupt shard, mismatched shapes, NaN values): names the file.</summary>
public sealed class DataException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string PathName { get; } = path;
    public string Problem { get; } = problem;
}
