using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SaeCluster.Sae;

/// <summary>
/// One JSON object of an input file (an SAE's cfg.json, eval.json, a train_log.jsonl line…), read field by field:
/// an absent or null field is null, a field of the wrong type is a <see cref="DataException"/> naming the file and
/// the field's path (<c>eval.json: by_position[2].fvu: …</c>, <c>config.json: trainer.dict_class: …</c>).
/// </summary>
public sealed class JsonFields
{
    readonly JsonObject obj;

    JsonFields(string file, string where, JsonObject obj)
    {
        File = file;
        Where = where;
        this.obj = obj;
    }

    /// <summary>The file the object came from.</summary>
    public string File { get; }

    /// <summary>Where in the file the object is: empty for the top level, else a path such as <c>latents[3]</c>.</summary>
    public string Where { get; }

    /// <summary>Parses a whole file, which must hold one JSON object.</summary>
    public static JsonFields Open(string path) =>
        System.IO.File.Exists(path) ? Parse(System.IO.File.ReadAllText(path), path, line: null) : throw new DataException(path, "not found");

    /// <summary>An object built in code (a config rewritten before it is read), reported as <paramref name="file"/>.</summary>
    public static JsonFields Of(string file, JsonObject obj) => new(file, "", obj);

    /// <summary>The object itself.</summary>
    public JsonObject Json => obj;

    /// <summary>Whether the field is there and not null.</summary>
    public bool Has(string key) => Get(key) != null;

    /// <summary>Parses one line of a JSON Lines file, which must hold one JSON object.</summary>
    public static JsonFields ParseLine(string text, string path, int line) => Parse(text, path, line);

    static JsonFields Parse(string text, string path, int? line)
    {
        string at = line is int n ? $"line {n}: " : "";
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw new DataException(path, $"{at}not valid JSON ({(line == null && e.LineNumber is long l ? $"line {l + 1}: " : "")}{FirstSentence(e.Message)})");
        }
        if (node is not JsonObject o) throw new DataException(path, $"{at}expected a JSON object, found {Kind(node)}");
        return new JsonFields(path, line is int m ? $"line {m}" : "", o);
    }

    /// <summary>A number; null when absent.</summary>
    public double? Number(string key) => Get(key) switch
    {
        null => null,
        var n when AsNumber(n) is double d => d,
        var other => throw Wrong(key, "a number", other),
    };

    /// <summary>A number that must be there.</summary>
    public double RequiredNumber(string key) => Number(key) ?? throw Missing(key);

    /// <summary>A whole number; null when absent.</summary>
    public int? Int(string key) => Get(key) switch
    {
        null => null,
        var n when AsNumber(n) is double d && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue => (int)d,
        var other => throw Wrong(key, "an integer", other),
    };

    /// <summary>A whole number that must be there.</summary>
    public int RequiredInt(string key) => Int(key) ?? throw Missing(key);

    /// <summary>A large whole number (token counts); null when absent.</summary>
    public long? Long(string key) => Get(key) switch
    {
        null => null,
        var n when AsNumber(n) is double d && d == Math.Floor(d) && Math.Abs(d) < 9e15 => (long)d,
        var other => throw Wrong(key, "an integer", other),
    };

    /// <summary>A string; null when absent.</summary>
    public string? String(string key) => Get(key) switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        var other => throw Wrong(key, "a string", other),
    };

    /// <summary>A string that must be there.</summary>
    public string RequiredString(string key) => String(key) ?? throw Missing(key);

    /// <summary>true or false; null when absent.</summary>
    public bool? Bool(string key) => Get(key) switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out bool b) => b,
        var other => throw Wrong(key, "true or false", other),
    };

    /// <summary>A value that may be a bool or a string (SAELens' <c>normalize_activations</c> changed type in v3.4), as text; null when absent.</summary>
    public string? BoolOrString(string key) => Get(key) switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out bool b) => b ? "true" : "false",
        JsonValue v when v.TryGetValue(out string? s) => s,
        var other => throw Wrong(key, "a string or a bool", other),
    };

    /// <summary>A nested object; null when absent.</summary>
    public JsonFields? Object(string key) => Get(key) switch
    {
        null => null,
        JsonObject o => new JsonFields(File, Path(key), o),
        var other => throw Wrong(key, "an object", other),
    };

    /// <summary>An array of objects; null when absent.</summary>
    public IReadOnlyList<JsonFields>? Objects(string key) => Array(key)?.Select((n, i) => n is JsonObject o
        ? new JsonFields(File, $"{Path(key)}[{i}]", o)
        : throw new DataException(File, $"{Path(key)}[{i}]: expected an object, found {Kind(n)}")).ToArray();

    /// <summary>An array of numbers; null when absent.</summary>
    public double[]? Numbers(string key) => Array(key)?.Select((n, i) => AsNumber(n) is double d
        ? d
        : throw new DataException(File, $"{Path(key)}[{i}]: expected a number, found {Kind(n)}")).ToArray();

    /// <summary>An array of strings; null when absent.</summary>
    public string[]? Strings(string key) => Array(key)?.Select((n, i) => n is JsonValue v && v.TryGetValue(out string? s)
        ? s
        : throw new DataException(File, $"{Path(key)}[{i}]: expected a string, found {Kind(n)}")).ToArray();

    /// <summary>An error about this object's field <paramref name="key"/>, naming the file and the field.</summary>
    public DataException Problem(string key, string problem) => new(File, $"{Path(key)}: {problem}");

    JsonNode? Get(string key) => obj.TryGetPropertyValue(key, out var n) ? n : null;

    // a number however the node holds it: parsed text, or an int, long or double set in code
    static double? AsNumber(JsonNode? n) =>
        n is JsonValue && n.GetValueKind() == JsonValueKind.Number ? double.Parse(n.ToJsonString(), CultureInfo.InvariantCulture) : null;

    JsonArray? Array(string key) => Get(key) switch
    {
        null => null,
        JsonArray a => a,
        var other => throw Wrong(key, "an array", other),
    };

    string Path(string key) => Where.Length == 0 ? key : Where.StartsWith("line ") ? $"{Where}: {key}" : $"{Where}.{key}";

    DataException Missing(string key) => Problem(key, "missing");

    DataException Wrong(string key, string expected, JsonNode? found) => Problem(key, $"expected {expected}, found {Kind(found)}");

    static string Kind(JsonNode? n) => n switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        _ => n.ToJsonString(),
    };

    static string FirstSentence(string message) => message.Split(" Path:", 2)[0].Split(" LineNumber:", 2)[0].TrimEnd('.');
}
