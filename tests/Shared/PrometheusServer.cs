using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SaeCluster.Testing;

/// <summary>
/// A throwaway Prometheus server (Debian's <c>prometheus</c> package, 2.42) started by the tests: a config
/// scraping the given targets every second, TSDB in a temp folder, a free loopback port; killed and deleted
/// at dispose. <see cref="QueryAsync"/> asks its HTTP query API. Fails loudly when Prometheus is missing.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "saecluster-prom-" + Guid.NewGuid().ToString("N")[..8]);
    readonly StringBuilder _log = new();
    readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    Process? _process;

    public int Port { get; private set; }
    public string Url => $"http://127.0.0.1:{Port}";
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>The Prometheus binary (PATH, or Debian's /usr/bin/prometheus); throws naming the package when missing.</summary>
    public static string Binary(string name = "prometheus") =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{name} is not installed (apt-get install prometheus; scripts/install-deps.sh does it)");

    /// <summary>Starts Prometheus scraping <paramref name="targets"/> (host:port) as job <paramref name="job"/> every second, with these rule files.</summary>
    public static async Task<PrometheusServer> StartAsync(IEnumerable<string> targets, string job = "saecluster", IEnumerable<string>? ruleFiles = null)
    {
        var p = new PrometheusServer();
        await p.StartCoreAsync(targets, job, ruleFiles ?? []);
        return p;
    }

    async Task StartCoreAsync(IEnumerable<string> targets, string job, IEnumerable<string> ruleFiles)
    {
        string binary = Binary();
        Directory.CreateDirectory(_dir);
        string config = Path.Combine(_dir, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: [{string.Join(", ", ruleFiles.Select(f => $"\"{f}\""))}]
            scrape_configs:
              - job_name: {job}
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"\"{t}\""))}]
            """);
        Port = LoopbackPorts.Free();
        var psi = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir,
        };
        foreach (var a in new[] { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(_dir, "data")}", $"--web.listen-address=127.0.0.1:{Port}", "--log.level=warn" })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"prometheus exited with {_process.ExitCode}:\n{Log}");
            try
            {
                if ((await _http.GetAsync($"{Url}/-/ready")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"prometheus not ready in 30 s:\n{Log}");
            await Task.Delay(200);
        }
    }

    /// <summary>One sample of an instant query's result: its labels and value.</summary>
    public sealed record Sample(IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>Evaluates an instant query; throws with Prometheus' error text when the query is invalid.</summary>
    public async Task<IReadOnlyList<Sample>> QueryAsync(string query)
    {
        using var response = await _http.PostAsync($"{Url}/api/v1/query", new FormUrlEncodedContent([new("query", query)]));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        if (root.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"query '{query}' failed: {root.GetProperty("errorType").GetString()}: {root.GetProperty("error").GetString()}");
        var data = root.GetProperty("data");
        var samples = new List<Sample>();
        if (data.GetProperty("resultType").GetString() == "scalar")
        {
            samples.Add(new Sample(new Dictionary<string, string>(), ParseValue(data.GetProperty("result")[1].GetString()!)));
            return samples;
        }
        foreach (var r in data.GetProperty("result").EnumerateArray())
        {
            var labels = r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
            samples.Add(new Sample(labels, ParseValue(r.GetProperty("value")[1].GetString()!)));
        }
        return samples;
    }

    /// <summary>Queries until <paramref name="until"/> holds for the result, or throws after <paramref name="timeout"/> with the last result.</summary>
    public async Task<IReadOnlyList<Sample>> WaitForAsync(string query, Func<IReadOnlyList<Sample>, bool> until, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var result = await QueryAsync(query);
            if (until(result)) return result;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"'{query}' did not reach the expected value in {timeout.TotalSeconds:F0} s; last: " +
                    string.Join("; ", result.Select(s => $"{{{string.Join(",", s.Labels.Select(l => $"{l.Key}={l.Value}"))}}} {s.Value}")));
            await Task.Delay(500);
        }
    }

    static double ParseValue(string s) => s switch
    {
        "NaN" => double.NaN, "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity,
        _ => double.Parse(s, CultureInfo.InvariantCulture),
    };

    public ValueTask DisposeAsync()
    {
        try { if (_process is { HasExited: false }) { _process.Kill(entireProcessTree: true); _process.WaitForExit(10_000); } } catch (InvalidOperationException) { }
        _process?.Dispose();
        _http.Dispose();
        try { Directory.Delete(_dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return ValueTask.CompletedTask;
    }
}
