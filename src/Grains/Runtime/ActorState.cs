using System.Text.Json;
using System.Text.Json.Nodes;

namespace SaeCluster.Grains;

/// <summary>Actor state is a JSON object in the cluster store's row; these read it forgivingly.</summary>
public static class ActorState
{
    public static JsonObject Parse(string? state)
    {
        if (string.IsNullOrWhiteSpace(state)) return new JsonObject();
        try { return JsonNode.Parse(state) as JsonObject ?? new JsonObject(); }
        catch (JsonException) { return new JsonObject { ["raw"] = state }; }
    }

    /// <summary>The state with <c>error</c> set, for an actor the runtime marks Failed.</summary>
    public static string WithError(string state, string error)
    {
        var o = Parse(state);
        o["error"] = error;
        return o.ToJsonString();
    }
}
