using System.Text.Json;
using System.Text.Json.Nodes;

namespace SaeCluster.Sae;

/// <summary>
/// A JSON object read from an SAE's config file, whose accessors fail with one <see cref="DataException"/>
/// naming the file and the field (<c>trainer.dict_class</c>) when a value is missing or of the wrong type.
/// </summary>
internal sealed class JsonCfg(string file, JsonObject obj, string prefix = "")
{
    public string File { get; } = file;
    public JsonObject Object { get; } = obj;

    public static JsonCfg Load(string file)
    {
        if (!System.IO.File.Exists(file)) throw new DataException(file, "not found");
        JsonNode? node;
        try { node = JsonNode.Parse(System.IO.File.ReadAllText(file)); }
        catch (JsonException e) { throw new DataException(file, $"not valid JSON ({e.Message})"); }
        return node is JsonObject o ? new JsonCfg(file, o) : throw new DataException(file, "must hold a JSON object");
    }

    public string Field(string key) => prefix + key;

    public bool Has(string key) => Object.TryGetPropertyValue(key, out var v) && v != null;

    public JsonNode? Node(string key) => Object.TryGetPropertyValue(key, out var v) ? v : null;

    public JsonCfg? Child(string key) => Node(key) switch
    {
        null => null,
        JsonObject o => new JsonCfg(File, o, Field(key) + "."),
        var other => throw Wrong(key, "an object", other),
    };

    public int Int(string key) => IntOrNull(key) ?? throw new DataException(File, $"{Field(key)}: missing");

    public int? IntOrNull(string key)
    {
        var v = Node(key);
        if (v == null) return null;
        return Number(v) is double d && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue ? (int)d : throw Wrong(key, "an integer", v);
    }

    public double? NumberOrNull(string key)
    {
        var v = Node(key);
        if (v == null) return null;
        return Number(v) ?? throw Wrong(key, "a number", v);
    }

    // a number however the node holds it (parsed text, or an int/long/double set in code)
    static double? Number(JsonNode v) =>
        v is JsonValue && v.GetValueKind() == JsonValueKind.Number ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) : null;

    public string? StringOrNull(string key)
    {
        var v = Node(key);
        if (v == null) return null;
        return v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : throw Wrong(key, "a string", v);
    }

    public string String(string key) => StringOrNull(key) ?? throw new DataException(File, $"{Field(key)}: missing");

    public bool? BoolOrNull(string key)
    {
        var v = Node(key);
        if (v == null) return null;
        return v is JsonValue jv && jv.TryGetValue<bool>(out bool b) ? b : throw Wrong(key, "true or false", v);
    }

    /// <summary>A value that may be a bool or a string (SAELens' <c>normalize_activations</c> changed type in v3.4), as text.</summary>
    public string? BoolOrStringOrNull(string key)
    {
        var v = Node(key);
        if (v == null) return null;
        if (v is JsonValue jv)
        {
            if (jv.TryGetValue<bool>(out bool b)) return b ? "true" : "false";
            if (jv.TryGetValue<string>(out var s)) return s;
        }
        throw Wrong(key, "a string or a bool", v);
    }

    DataException Wrong(string key, string expected, JsonNode v) =>
        new(File, $"{Field(key)}: expected {expected}, found {v.ToJsonString()}");
}
