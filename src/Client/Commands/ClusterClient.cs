using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SaeCluster.Grains;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>A failure talking to the cluster, already phrased for the user, with its exit code.</summary>
public sealed class ClusterException(string message, int exitCode = CliErrors.Failed, bool unreachable = false) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    /// <summary>The silo did not answer at all (network, timeout); a watcher may retry.</summary>
    public bool Unreachable { get; } = unreachable;
}

/// <summary>A reply of the silo: the raw JSON (for --json) and the value read from it.</summary>
public sealed record ClusterReply<T>(T Value, string Json);

/// <summary>
/// The silo's HTTP API as saectl uses it (submit, list, status, cancel), with the bearer token, and every
/// failure turned into one <see cref="ClusterException"/>: unreachable, token refused, not found, or the
/// silo's own error message (a bad sweep comes back verbatim, exit code 2).
/// </summary>
public sealed class ClusterClient : IDisposable
{
    public const string UrlVariable = "SAECLUSTER_URL", TokenVariable = "SAECLUSTER_TOKEN";

    readonly HttpClient _http;

    /// <summary>The cluster's base URL as the user gave it (for messages).</summary>
    public string Url { get; }

    public ClusterClient(string url, string? token, TimeSpan? timeout = null)
    {
        Url = url.TrimEnd('/');
        _http = new HttpClient { BaseAddress = new Uri(Url + "/"), Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("saectl");
        _http.DefaultRequestHeaders.Accept.ParseAdd("application/json");
        if (!string.IsNullOrEmpty(token)) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>The client for <c>--cluster</c>/<c>--token</c>, falling back to SAECLUSTER_URL / SAECLUSTER_TOKEN.</summary>
    public static ClusterClient FromOptions(string? cluster, string? token)
    {
        string? url = string.IsNullOrWhiteSpace(cluster) ? Environment.GetEnvironmentVariable(UrlVariable) : cluster;
        if (string.IsNullOrWhiteSpace(url))
            throw new ConfigException("--cluster", $"no cluster URL: pass --cluster http://HOST:5080 or set {UrlVariable}");
        url = url.Trim();
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            throw new ConfigException("--cluster", $"'{url}' is not an http:// or https:// URL");
        if (string.IsNullOrEmpty(token)) token = Environment.GetEnvironmentVariable(TokenVariable);
        return new ClusterClient(url, token);
    }

    /// <summary>Submits sweep YAML text; <paramref name="source"/> is the file name the silo names in its errors.</summary>
    public async Task<ClusterReply<string>> SubmitAsync(string yaml, string source, CancellationToken ct)
    {
        var content = new StringContent(yaml, Encoding.UTF8, "application/yaml");
        string json = await SendAsync(HttpMethod.Post, $"api/sweeps?source={Uri.EscapeDataString(source)}", content, null, ct);
        using var doc = JsonDocument.Parse(json);
        string id = doc.RootElement.TryGetProperty("id", out var v) ? v.GetString() ?? "?" : "?";
        return new(id, json);
    }

    public async Task<ClusterReply<IReadOnlyList<SweepStatus>>> ListAsync(CancellationToken ct)
    {
        string json = await SendAsync(HttpMethod.Get, "api/sweeps", null, null, ct);
        return new(Read<List<SweepStatus>>(json), json);
    }

    public async Task<ClusterReply<SweepStatus>> GetAsync(string id, CancellationToken ct)
    {
        string json = await SendAsync(HttpMethod.Get, $"api/sweeps/{Uri.EscapeDataString(id)}", null, id, ct);
        return new(Read<SweepStatus>(json), json);
    }

    public async Task<ClusterReply<SweepStatus>> CancelAsync(string id, CancellationToken ct)
    {
        string json = await SendAsync(HttpMethod.Post, $"api/sweeps/{Uri.EscapeDataString(id)}/cancel", null, id, ct);
        return new(Read<SweepStatus>(json), json);
    }

    T Read<T>(string json)
    {
        try { return JsonSerializer.Deserialize<T>(json, SweepJson.Options) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new ClusterException($"the cluster at {Url} sent a reply saectl does not understand ({e.Message})"); }
    }

    async Task<string> SendAsync(HttpMethod method, string path, HttpContent? content, string? sweep, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        string body;
        try
        {
            response = await _http.SendAsync(request, ct);
            body = await response.Content.ReadAsStringAsync(ct);
        }
        catch (HttpRequestException e)
        {
            throw new ClusterException($"cannot reach the cluster at {Url} ({Reason(e)})", unreachable: true);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ClusterException($"cannot reach the cluster at {Url} (no answer within {_http.Timeout.TotalSeconds:F0} s)", unreachable: true);
        }
        using (response)
        {
            if (response.IsSuccessStatusCode) return body;
            string? error = ErrorOf(body);
            throw response.StatusCode switch
            {
                HttpStatusCode.Unauthorized => new ClusterException($"the cluster at {Url} refused the token (pass --token or set {TokenVariable})"),
                HttpStatusCode.NotFound when sweep != null => new ClusterException($"no sweep '{sweep}' on the cluster at {Url}"),
                HttpStatusCode.BadRequest or HttpStatusCode.Conflict or HttpStatusCode.UnsupportedMediaType or HttpStatusCode.RequestEntityTooLarge
                    when error != null => new ClusterException(error, CliErrors.Usage),
                HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout =>
                    new ClusterException($"the cluster at {Url} is unavailable ({(int)response.StatusCode}{(error != null ? ": " + error : "")})", unreachable: true),
                _ => new ClusterException($"the cluster at {Url} answered {(int)response.StatusCode} {response.ReasonPhrase}{(error != null ? ": " + error : "")}"),
            };
        }
    }

    // {"error": "..."} from the silo, or the start of whatever a proxy sent
    static string? ErrorOf(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String)
                return e.GetString();
        }
        catch (JsonException) { }
        string text = body.Trim().ReplaceLineEndings(" ");
        return text.Length > 300 ? text[..300] + "…" : text;
    }

    static string Reason(HttpRequestException e)
    {
        var inner = e.InnerException;
        while (inner?.InnerException != null) inner = inner.InnerException;
        return inner?.Message is { Length: > 0 } m && !e.Message.Contains(m, StringComparison.Ordinal) ? $"{e.Message} {m}" : e.Message;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The <c>--cluster</c> and <c>--token</c> options every cluster command takes.</summary>
public sealed class ClusterOptions
{
    public Option<string?> Cluster { get; } = new("--cluster")
    {
        Description = $"the cluster's HTTP API, e.g. http://127.0.0.1:5080 (default ${ClusterClient.UrlVariable})",
    };

    public Option<string?> Token { get; } = new("--token")
    {
        Description = $"bearer token the cluster requires (default ${ClusterClient.TokenVariable})",
    };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Cluster);
        cmd.Options.Add(Token);
    }

    public ClusterClient Client(ParseResult pr) => ClusterClient.FromOptions(pr.GetValue(Cluster), pr.GetValue(Token));
}
