namespace SaeCluster.Models;

/// <summary>A checkpoint that cannot be loaded: names the file and the field or tensor.</summary>
public sealed class ModelFormatException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string PathName { get; } = path;
}
