using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace SaeCluster.Silo.Tests;

/// <summary>The built silo (saecluster-silo.dll) run as a separate process, the way a deployment runs it.</summary>
public sealed partial class SiloProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly ConcurrentQueue<string> _lines = new();
    readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "saecluster-silo.dll");

    /// <summary>The repository (found from this source file): models/tiny-gemma2-code lives there.</summary>
    public static string RepositoryRoot => Path.GetFullPath(Path.Combine(Here(), "..", ".."));
    static string Here([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    /// <summary>Base URL of the API, e.g. http://127.0.0.1:40123 (Kestrel picks a free port).</summary>
    public string Url { get; private set; } = "";
    public string? Token { get; }
    public int ExitCode => _process.ExitCode;
    public bool HasExited => _process.HasExited;
    public string Log => string.Join('\n', _lines);

    SiloProcess(Process process, string? token)
    {
        _process = process;
        Token = token;
    }

    /// <summary>Starts the process (without waiting for it to serve).</summary>
    public static SiloProcess Launch(string workingDirectory, string? token, params string[] args)
    {
        var psi = Psi(workingDirectory, args);
        if (token != null) { psi.ArgumentList.Add("--token"); psi.ArgumentList.Add(token); }
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var silo = new SiloProcess(p, token);
        void OnLine(object _, DataReceivedEventArgs e)
        {
            if (e.Data == null) return;
            silo._lines.Enqueue(e.Data);
            if (ListeningLine().Match(e.Data) is { Success: true } m) silo._listening.TrySetResult(m.Groups[1].Value);
        }
        p.OutputDataReceived += OnLine;
        p.ErrorDataReceived += OnLine;
        p.Exited += (_, _) => silo._listening.TrySetException(new InvalidOperationException("the silo exited before it listened"));
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return silo;
    }

    static ProcessStartInfo Psi(string workingDirectory, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory, UseShellExecute = false };
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("SAECLUSTER_", StringComparison.Ordinal) || k == "ASPNETCORE_URLS").ToArray())
            psi.Environment.Remove(key);
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        // every silo process gets its own Orleans ports (silos and gateways of parallel tests must not meet)
        bool subcommand = args.Length > 0 && args[0] is "drain" or "db";
        if (!subcommand && !args.Contains("--silo-port")) { psi.ArgumentList.Add("--silo-port"); psi.ArgumentList.Add(LoopbackPorts.Free().ToString()); }
        if (!subcommand && !args.Contains("--gateway-port")) { psi.ArgumentList.Add("--gateway-port"); psi.ArgumentList.Add(LoopbackPorts.Free().ToString()); }
        return psi;
    }

    /// <summary>Runs the silo to its exit (for start-up errors): exit code and all output.</summary>
    public static (int ExitCode, string Output) RunToExit(string workingDirectory, TimeSpan timeout, params string[] args) =>
        RunToExitWithEnv(workingDirectory, timeout, new Dictionary<string, string>(), args);

    /// <summary><see cref="RunToExit"/> with SAECLUSTER_* variables set (the subcommands read them as the silo does).</summary>
    public static (int ExitCode, string Output) RunToExitWithEnv(string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = Psi(workingDirectory, args);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(timeout)) { p.Kill(true); throw new TimeoutException($"saecluster-silo {string.Join(' ', args)} did not exit within {timeout}"); }
        return (p.ExitCode, output.Result + err.Result);
    }

    /// <summary>The API's base URL once Kestrel listens (for a process started with <see cref="Launch"/>).</summary>
    public async Task<string> ListeningAsync(TimeSpan timeout) => Url = (await _listening.Task.WaitAsync(timeout)).TrimEnd('/');

    /// <summary>Starts a silo on a free port over the given stores and waits until /healthz says ok.</summary>
    public static async Task<SiloProcess> StartAsync(string workingDirectory, string? token, params string[] args)
    {
        var silo = Launch(workingDirectory, token, ["--urls", "http://127.0.0.1:0", .. args]);
        try
        {
            silo.Url = (await silo._listening.Task.WaitAsync(TimeSpan.FromSeconds(30))).TrimEnd('/');
            using var http = new HttpClient { BaseAddress = new Uri(silo.Url) };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                var r = await http.GetAsync("/healthz");
                if (r.IsSuccessStatusCode) break;
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"/healthz: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                await Task.Delay(100);
            }
            return silo;
        }
        catch (Exception e)
        {
            string log = silo.Log;
            await silo.DisposeAsync();
            throw new InvalidOperationException($"the silo did not start: {e.Message}\n{log}", e);
        }
    }

    /// <summary>An HTTP client on the API, with the silo's token unless <paramref name="token"/> overrides it ("" for none).</summary>
    public HttpClient Http(string? token = null)
    {
        var http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(30) };
        token ??= Token;
        if (!string.IsNullOrEmpty(token)) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    /// <summary>Sends SIGTERM (what Kubernetes and systemd send) and waits for the exit; false on timeout.</summary>
    public Task<bool> TerminateAsync(TimeSpan timeout) => ProcessSignals.TerminateAsync(_process, timeout);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            if (!await TerminateAsync(TimeSpan.FromSeconds(20))) _process.Kill(true);
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (https?://\S+)")]
    private static partial Regex ListeningLine();
}
