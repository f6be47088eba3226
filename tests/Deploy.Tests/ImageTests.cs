using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace SaeCluster.Deploy.Tests;

/// <summary>
/// What goes into the container images, checked without a Docker engine: the Dockerfiles lint clean, and
/// deploy/docker/publish.sh (the command their build stage runs) produces a self-contained silo and saectl
/// that start and stop the way the images run them.
/// </summary>
public sealed class ImageTests(ImageTests.PublishFixture publish, ITestOutputHelper log) : IClassFixture<ImageTests.PublishFixture>
{
    static readonly string[] Dockerfiles = Directory.GetFiles(Path.Combine(RepoCommand.Root, "deploy", "docker"), "*.Dockerfile")
        .Select(f => "deploy/docker/" + Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Image_dockerfiles_lint_clean()
    {
        Assert.Contains("deploy/docker/silo.Dockerfile", Dockerfiles);
        Assert.Contains("deploy/docker/silo-gpu.Dockerfile", Dockerfiles);
        Assert.Contains("deploy/docker/saectl.Dockerfile", Dockerfiles);

        var (code, output) = RepoCommand.Run("bash", "deploy/check/check.sh docker", TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"check.sh docker exited {code}:\n{output}");
        foreach (var file in Dockerfiles)
            Assert.Contains($"{file}: ok", output.Split('\n').Select(l => l.Trim()));
    }

    [Fact]
    public async Task Image_published_silo_serves_healthz_and_stops_cleanly_on_sigterm()
    {
        string dir = publish.Get("silo", log);
        string exe = Path.Combine(dir, "saecluster-silo");
        AssertSelfContained(dir, exe);
        Assert.False(File.Exists(Path.Combine(dir, "libe_sqlite3.so")), "the silo has no SQLite any more, yet libe_sqlite3.so is in the publish output");

        var (helpCode, help) = Run(exe, ["--help"], RepoCommand.Root);
        Assert.True(helpCode == 0, $"--help exited {helpCode}:\n{help}");
        foreach (var variable in new[] { "SAECLUSTER_CLUSTER", "SAECLUSTER_ROLE", "SAECLUSTER_SILO_PORT", "SAECLUSTER_GATEWAY_PORT" })
            Assert.Contains(variable, help);

        // One silo on a folder cluster (localhost clustering, file grain storage) on free silo and gateway
        // ports, so it never collides with another silo on this machine.
        using var tmp = new TempDir();
        int siloPort = LoopbackPorts.Free(), gatewayPort = LoopbackPorts.Free();
        while (gatewayPort == siloPort) gatewayPort = LoopbackPorts.Free();
        using var silo = ChildProcess.Start(exe, tmp.Path,
            "--cluster", tmp["cluster"], "--blobs", tmp["blobs"], "--work-dir", tmp["work"],
            "--silo-port", siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--gateway-port", gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--data-root", tmp.Path, "--urls", "http://127.0.0.1:0");
        string url = await silo.WaitForAsync(new Regex(@"Now listening on: (http://\S+)"), TimeSpan.FromSeconds(60));

        using var http = new HttpClient { BaseAddress = new Uri(url.TrimEnd('/')), Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        HttpResponseMessage health;
        while (true)
        {
            health = await http.GetAsync("/healthz");
            if (health.IsSuccessStatusCode || DateTime.UtcNow > deadline) break;
            await Task.Delay(200);
        }
        Assert.True(health.IsSuccessStatusCode, $"/healthz: {(int)health.StatusCode} {await health.Content.ReadAsStringAsync()}\n{silo.Log}");
        // Orleans listens on the ports it was given: silo-to-silo and the gateway API-only clients connect to.
        foreach (var (name, port) in new[] { ("silo", siloPort), ("gateway", gatewayPort) })
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            try { await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(5)); }
            catch (Exception e) { Assert.Fail($"nothing listens on the {name} port {port}: {e.Message}\n{silo.Log}"); }
        }
        // The JSON API too: the published (untrimmed) app serialises with reflection-based System.Text.Json.
        var sweeps = await http.GetAsync("/api/sweeps");
        Assert.True(sweeps.IsSuccessStatusCode, $"/api/sweeps: {(int)sweeps.StatusCode}\n{silo.Log}");
        Assert.Equal("[]", (await sweeps.Content.ReadAsStringAsync()).Trim());

        Assert.True(await silo.TerminateAsync(TimeSpan.FromSeconds(60)), $"the silo did not exit within 60 s of SIGTERM:\n{silo.Log}");
        Assert.True(silo.ExitCode == 0, $"the silo exited {silo.ExitCode} after SIGTERM:\n{silo.Log}");
    }

    [Fact]
    public void Image_published_saectl_runs()
    {
        string dir = publish.Get("saectl", log);
        string exe = Path.Combine(dir, "saectl");
        AssertSelfContained(dir, exe);
        Assert.False(File.Exists(Path.Combine(dir, "libe_sqlite3.so")), "the silo has no SQLite any more, yet libe_sqlite3.so is in the publish output");

        var (helpCode, help) = Run(exe, ["--help"], RepoCommand.Root);
        Assert.True(helpCode == 0, $"saectl --help exited {helpCode}:\n{help}");
        Assert.Equal(["run", "submit", "status", "watch", "cancel", "train", "bench", "quickstart", "model", "activations", "tokenize", "sae", "eval", "report"],
            HelpCommands(help));

        var (versionCode, version) = Run(exe, ["--version"], RepoCommand.Root);
        Assert.True(versionCode == 0, $"saectl --version exited {versionCode}:\n{version}");
        Assert.Matches(@"^\d+\.\d+\.\d+", version.Trim());

        // A client command against nothing: a clear error and a non-zero exit, not a crash.
        var (statusCode, status) = Run(exe, ["status", "--cluster", "http://127.0.0.1:9"], RepoCommand.Root);
        Assert.NotEqual(0, statusCode);
        Assert.Contains("127.0.0.1:9", status);
        Assert.DoesNotContain("Unhandled exception", status);
    }

    /// <summary>Self-contained: the native apphost, the runtime next to it, and no dependence on an installed .NET.</summary>
    static void AssertSelfContained(string dir, string exe)
    {
        Assert.True(File.Exists(exe), $"{exe} was not published");
        Assert.True(File.Exists(Path.Combine(dir, "libcoreclr.so")), "the runtime (libcoreclr.so) is not in the publish output: not self-contained");
        if (!OperatingSystem.IsWindows())
            Assert.True((File.GetUnixFileMode(exe) & UnixFileMode.UserExecute) != 0, $"{exe} is not executable");
        Assert.Empty(Directory.GetDirectories(dir)); // no satellite-resource folders (InvariantGlobalization)
    }

    /// <summary>The subcommand names of a System.CommandLine help text, in order (the "Commands:" section).</summary>
    internal static string[] HelpCommands(string help) =>
        help[(help.IndexOf("\nCommands:\n", StringComparison.Ordinal) + "\nCommands:\n".Length)..]
            .Split('\n').TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal)).Select(l => l.Trim().Split(' ')[0]).ToArray();

    /// <summary>Runs a published executable to its exit (SAECLUSTER_* variables of the test's environment removed): exit code and output.</summary>
    static (int Code, string Output) Run(string exe, string[] args, string workingDirectory)
    {
        using var p = ChildProcess.Start(exe, workingDirectory, args);
        return p.WaitForExit(TimeSpan.FromMinutes(1));
    }

    /// <summary>
    /// Publishes each app once per test class with deploy/docker/publish.sh, one at a time (the publishes share
    /// the library projects' intermediate files), into a folder removed at the end.
    /// </summary>
    public sealed class PublishFixture : IDisposable
    {
        readonly TempDir _out = new();
        readonly Dictionary<string, string> _published = [];
        readonly Lock _lock = new();

        public string Get(string app, ITestOutputHelper log)
        {
            lock (_lock)
            {
                if (_published.TryGetValue(app, out var done)) return done;
                string dir = _out[app];
                // Its own artifacts folder under the same temp folder: never shared with another test run.
                var env = new Dictionary<string, string> { ["SAECLUSTER_ARTIFACTS"] = _out["artifacts"] };
                var sw = Stopwatch.StartNew();
                var (code, output) = RepoCommand.Run("bash", $"deploy/docker/publish.sh {app} {dir}", TimeSpan.FromMinutes(5), env);
                Assert.True(code == 0, $"publish.sh {app} exited {code}:\n{output}");
                log.WriteLine($"{output.Trim()} in {sw.Elapsed.TotalSeconds:F0} s");
                _published[app] = dir;
                return dir;
            }
        }

        public void Dispose() => _out.Dispose();
    }

    /// <summary>A child process with its output collected, started with the SAECLUSTER_* variables of the test's own environment removed.</summary>
    sealed class ChildProcess : IDisposable
    {
        readonly Process _process;
        readonly ConcurrentQueue<string> _lines = new();
        readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        event Action<string>? Line;

        ChildProcess(Process process) => _process = process;

        public int ExitCode => _process.ExitCode;
        public string Log => string.Join('\n', _lines);

        public static ChildProcess Start(string exe, string workingDirectory, params string[] args)
        {
            var psi = new ProcessStartInfo(exe)
            {
                WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in args) psi.ArgumentList.Add(a);
            foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("SAECLUSTER_", StringComparison.Ordinal) || k is "ASPNETCORE_URLS" or "DOTNET_ROOT").ToArray())
                psi.Environment.Remove(key);
            var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
            var child = new ChildProcess(p);
            void OnData(object _, DataReceivedEventArgs e)
            {
                if (e.Data == null) return;
                child._lines.Enqueue(e.Data);
                child.Line?.Invoke(e.Data);
            }
            p.OutputDataReceived += OnData;
            p.ErrorDataReceived += OnData;
            p.Exited += (_, _) => child._exited.TrySetResult();
            p.Start();
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            return child;
        }

        /// <summary>Waits for an output line matching <paramref name="pattern"/> and returns its first group.</summary>
        public async Task<string> WaitForAsync(Regex pattern, TimeSpan timeout)
        {
            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            void Check(string line) { if (pattern.Match(line) is { Success: true } m) found.TrySetResult(m.Groups[1].Value); }
            Line += Check;
            foreach (var line in _lines) Check(line);
            var done = await Task.WhenAny(found.Task, _exited.Task, Task.Delay(timeout));
            Line -= Check;
            if (done == found.Task) return found.Task.Result;
            throw new InvalidOperationException(done == _exited.Task
                ? $"the process exited ({_process.ExitCode}) before printing /{pattern}/:\n{Log}"
                : $"no /{pattern}/ within {timeout}:\n{Log}");
        }

        public (int Code, string Output) WaitForExit(TimeSpan timeout)
        {
            if (!_process.WaitForExit(timeout))
            {
                _process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{_process.StartInfo.FileName} did not exit within {timeout}:\n{Log}");
            }
            _process.WaitForExit(); // drains the output
            return (_process.ExitCode, Log);
        }

        /// <summary>Sends SIGTERM (what `docker stop` and Kubernetes send) and waits for the exit; false on timeout.</summary>
        public Task<bool> TerminateAsync(TimeSpan timeout) => ProcessSignals.TerminateAsync(_process, timeout);

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }
    }
}
