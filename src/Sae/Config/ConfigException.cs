namespace SaeCluster.Sae;

/// <summary>A user error in a configuration: names the field (and file, when there is one).</summary>
public sealed class ConfigException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}
