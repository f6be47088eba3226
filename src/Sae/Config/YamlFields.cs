using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SaeCluster.Sae;

/// <summary>
/// Typed access to one YAML mapping's fields, with errors (<see cref="ConfigException"/>) naming the field
/// (prefixed with its parent path, e.g. <c>saes[0].lr</c>) and its line. Keys not in the allowed list are
/// errors, so a typo never passes silently. Integers may use <c>_</c> separators (<c>1_000_000</c>).
/// </summary>
public sealed class YamlFields
{
    readonly Dictionary<string, YamlNode> _map = new();
    readonly Dictionary<string, YamlNode> _keys = new();
    readonly YamlMappingNode _node;

    /// <summary>Prefix of every field name: "" at the top, "saes[2]." or "training." inside.</summary>
    public string Prefix { get; }

    public YamlFields(YamlMappingNode node, string prefix, IReadOnlyCollection<string> allowed)
    {
        _node = node;
        Prefix = prefix;
        foreach (var (k, v) in node.Children)
        {
            string key = (k as YamlScalarNode)?.Value ?? "";
            if (!allowed.Contains(key))
                throw new ConfigException($"{prefix}{key} (line {k.Start.Line})", $"unknown field (allowed: {string.Join(", ", allowed)})");
            _map[key] = v;
            _keys[key] = k;
        }
    }

    /// <summary>Line of the mapping itself (1-based).</summary>
    public long Line => _node.Start.Line;

    public bool Has(string key) => _map.ContainsKey(key);

    /// <summary>The field's name for messages: "prefix.key (line N)" (the key's line) when present, "prefix.key" when absent.</summary>
    public string Where(string key) => _keys.TryGetValue(key, out var n) ? $"{Prefix}{key} (line {n.Start.Line})" : Prefix + key;

    /// <summary>The raw node of a field, or null when absent.</summary>
    public YamlNode? Node(string key) => _map.GetValueOrDefault(key);

    string? Scalar(string key)
    {
        if (!_map.TryGetValue(key, out var n)) return null;
        if (n is not YamlScalarNode s) throw new ConfigException(Where(key), "must be a single value");
        return s.Value;
    }

    public string? String(string key) => Scalar(key);

    public long? Long(string key)
    {
        string? s = Scalar(key);
        if (s == null) return null;
        return ParseLong(s) ?? throw new ConfigException(Where(key), $"'{s}' is not an integer");
    }

    /// <summary>An integer field that must fit in an int.</summary>
    public int? Int(string key)
    {
        long? v = Long(key);
        if (v is long l && (l > int.MaxValue || l < int.MinValue)) throw new ConfigException(Where(key), $"{l} is too large");
        return (int?)v;
    }

    public float? Float(string key)
    {
        string? s = Scalar(key);
        if (s == null) return null;
        if (float.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)) return v;
        throw new ConfigException(Where(key), $"'{s}' is not a number");
    }

    public bool? Bool(string key)
    {
        string? s = Scalar(key);
        return s?.ToLowerInvariant() switch
        {
            null => null,
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => throw new ConfigException(Where(key), $"'{s}' is not true or false"),
        };
    }

    IEnumerable<string>? Items(string key)
    {
        if (!_map.TryGetValue(key, out var n)) return null;
        return n switch
        {
            YamlScalarNode s => [s.Value ?? ""],
            YamlSequenceNode q => q.Children.Select(c => (c as YamlScalarNode)?.Value ?? throw new ConfigException(Where(key), "list items must be values")),
            _ => throw new ConfigException(Where(key), "must be a value or a list"),
        };
    }

    /// <summary>A single value or a list of values, as strings (null when absent).</summary>
    public string[]? StringList(string key) => Items(key)?.ToArray();

    public long[]? LongList(string key) => Items(key)?.Select(s =>
        long.TryParse(s.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v
        : throw new ConfigException(Where(key), $"'{s}' is not an integer")).ToArray();

    public double[]? DoubleList(string key) => Items(key)?.Select(s =>
        double.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
        : throw new ConfigException(Where(key), $"'{s}' is not a number")).ToArray();

    /// <summary>A nested mapping (its fields prefixed "key."), or null when absent.</summary>
    public YamlFields? Block(string key, IReadOnlyCollection<string> allowed)
    {
        if (!_map.TryGetValue(key, out var n)) return null;
        if (n is not YamlMappingNode m) throw new ConfigException(Where(key), $"must be a mapping ({string.Join(":, ", allowed)}:)");
        return new YamlFields(m, $"{Prefix}{key}.", allowed);
    }

    /// <summary>Integer text with optional <c>_</c> separators; a float with no fraction (1e6) counts too.</summary>
    public static long? ParseLong(string s)
    {
        s = s.Replace("_", "");
        if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)) return v;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double dv) && dv == Math.Floor(dv) && Math.Abs(dv) < 9e18) return (long)dv;
        return null;
    }

    /// <summary>
    /// Reads one YAML document whose root must be a mapping. Malformed YAML is reported as
    /// "<paramref name="source"/>:line: malformed YAML: …"; a non-mapping root names <paramref name="expected"/>.
    /// </summary>
    public static YamlMappingNode ReadRoot(TextReader reader, string source, string expected)
    {
        var yaml = new YamlStream();
        try { yaml.Load(reader); }
        catch (YamlException e) { throw new ConfigException($"{source}:{e.Start.Line}", $"malformed YAML: {e.InnerException?.Message ?? e.Message}"); }
        // YamlDotNet 16 throws this (no position) on e.g. an unclosed [ followed by more lines
        catch (InvalidOperationException) { throw new ConfigException(source, "malformed YAML: the text ends inside a collection or scalar (an unclosed [, { or quote?)"); }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException(source, $"must be a YAML mapping ({expected})");
        return root;
    }

    /// <summary>Puts the file in front of a field error: "source: field: message".</summary>
    public static ConfigException InFile(ConfigException e, string source) =>
        new($"{source}: {e.Field}", e.Message.StartsWith(e.Field + ": ", StringComparison.Ordinal) ? e.Message[(e.Field.Length + 2)..] : e.Message);

    /// <summary>A YAML double-quoted scalar (for emitting canonical YAML).</summary>
    public static string Quote(string s)
    {
        var b = new System.Text.StringBuilder("\"");
        foreach (char c in s)
            b.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                < ' ' => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        return b.Append('"').ToString();
    }

    /// <summary>Shortest text that parses back to the same float (invariant culture).</summary>
    public static string Number(float v) => v.ToString("R", CultureInfo.InvariantCulture);
}
