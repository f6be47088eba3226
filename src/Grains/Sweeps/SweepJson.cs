using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SaeCluster.Grains;

/// <summary>
/// The one JSON shape of the silo's HTTP API, shared by the silo (writing) and saectl (reading): web
/// defaults (camelCase, case-insensitive reads), relaxed escaping, enums as camelCase strings, NaN/±Infinity allowed as
/// strings (a diverging SAE must not break the status page).
/// </summary>
public static class SweepJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            NumberHandling = JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.AllowNamedFloatingPointLiterals,
            // readable quotes and non-ASCII in --json output; the API is JSON, never embedded in HTML
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }
}
