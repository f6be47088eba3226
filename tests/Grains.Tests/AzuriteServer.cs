using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using SaeCluster.Grains;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// A throwaway Azurite blob service (npm <c>azurite</c>, pinned) started by the tests themselves on a free
/// loopback port with its data in a temp folder; stopped and deleted at dispose. The first use on a machine
/// installs the package under the system temp folder (serialised across processes by a lock file; a marker
/// file records a verified install). Use it as a class or collection fixture, or call
/// <see cref="StartNewAsync"/>. <see cref="Stop"/> and <see cref="Start"/> restart it on the same port and
/// data (for outage tests). Fails loudly when node or npm is missing: it never skips silently.
/// </summary>
public sealed partial class AzuriteServer : IAsyncLifetime
{
    /// <summary>The pinned package (3.36+ need node 21+, Debian's node is 20).</summary>
    public const string Package = "azurite@3.35.0";

    static readonly string InstallDirectory = Path.Combine(Path.GetTempPath(), "saecluster-azurite");
    static readonly Lazy<string> Installed = new(Install, LazyThreadSafetyMode.ExecutionAndPublication);

    readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "saecluster-azurite-data-" + Guid.NewGuid().ToString("N")[..10]);
    readonly StringBuilder _output = new();
    Process? _process;

    /// <summary>Azurite's (and the old storage emulator's) fixed account.</summary>
    public const string AccountName = "devstoreaccount1";

    /// <summary>The well-known key of <see cref="AccountName"/> (public, documented by Microsoft).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>The loopback port the blob service listens on (fixed for the server's lifetime, kept across restarts).</summary>
    public int Port { get; private set; }

    /// <summary>The blob endpoint, http://127.0.0.1:port/devstoreaccount1.</summary>
    public string BlobEndpoint => $"http://127.0.0.1:{Port}/{AccountName}";

    /// <summary>A connection string for the well-known development account on this server.</summary>
    public string ConnectionString => ConnectionStringFor(BlobEndpoint);

    /// <summary>A connection string for the development account at another endpoint (a proxy in front of this server).</summary>
    public static string ConnectionStringFor(string blobEndpoint, string accountKey = AccountKey) =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={accountKey};BlobEndpoint={blobEndpoint};";

    /// <summary>Whether the server process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Installs (once) and starts a new server; dispose it with <see cref="DisposeAsync"/>.</summary>
    public static async Task<AzuriteServer> StartNewAsync()
    {
        var server = new AzuriteServer();
        await server.InitializeAsync();
        return server;
    }

    public Task InitializeAsync()
    {
        _ = Installed.Value;
        Directory.CreateDirectory(_dataDirectory);
        Port = LoopbackPorts.Free();
        Start();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Stop();
        try { Directory.Delete(_dataDirectory, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return Task.CompletedTask;
    }

    /// <summary>Starts the server (again) on <see cref="Port"/> and waits until the port answers.</summary>
    public void Start()
    {
        if (IsRunning) return;
        string main = Installed.Value;
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // No --skipApiVersionCheck: AzureBlobStoreOptions pins a service version this Azurite accepts.
        foreach (string argument in new[] { main, "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--location", _dataDirectory,
                     "--disableTelemetry", "--silent" })
            start.ArgumentList.Add(argument);
        lock (_output) _output.Clear();
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("node was not found on PATH: the Azure blob tests run Azurite with node (18+)", e);
        }
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"Azurite exited with {process.ExitCode} before listening on port {Port}:\n{Output}");
            if (PortAnswers(Port)) return;
            if (DateTime.UtcNow > deadline)
            {
                Stop();
                throw new InvalidOperationException($"Azurite did not listen on port {Port} within 30 s:\n{Output}");
            }
            Thread.Sleep(50);
        }
    }

    /// <summary>Stops the server (SIGTERM so it saves its metadata, SIGKILL after 5 s); data stays for <see cref="Start"/>.</summary>
    public void Stop()
    {
        Process? process = _process;
        _process = null;
        if (process is null) return;
        try
        {
            if (!process.HasExited)
            {
                if (!OperatingSystem.IsWindows()) _ = SendSignal(process.Id, 15);
                if (OperatingSystem.IsWindows() || !process.WaitForExit(5000)) process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
        }
        catch (InvalidOperationException) { } // already gone
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>What the server printed (for failure messages).</summary>
    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    static string Install()
    {
        Directory.CreateDirectory(InstallDirectory);
        string main = Path.Combine(InstallDirectory, "node_modules", "azurite", "dist", "src", "blob", "main.js");
        string marker = Path.Combine(InstallDirectory, "installed.txt");
        using FileStream gate = InstallLock.Acquire(Path.Combine(InstallDirectory, "install.lock"));
        if (File.Exists(marker) && File.ReadAllText(marker) == Package && File.Exists(main)) return main;

        (int exit, string output) result;
        try
        {
            result = Run("npm", ["install", "--no-audit", "--no-fund", "--prefix", InstallDirectory, Package], TimeSpan.FromMinutes(5));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("npm was not found on PATH: the Azure blob tests install Azurite with npm (node 18+ and npm are required)", e);
        }
        if (result.exit != 0) throw new InvalidOperationException($"npm install {Package} failed (exit {result.exit}); Azurite cannot be set up:\n{result.output}");
        if (!File.Exists(main)) throw new InvalidOperationException($"npm installed {Package} but {main} is missing");
        (int check, string checkOutput) = Run("node", [Path.Combine(InstallDirectory, "node_modules", "azurite", "dist", "src", "blob", "main.js"), "--help"], TimeSpan.FromMinutes(1));
        if (check != 0) throw new InvalidOperationException($"{Package} was installed but does not run under this node:\n{checkOutput}");
        File.WriteAllText(marker, Package);
        return main;
    }

    static (int Exit, string Output) Run(string program, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    static bool PortAnswers(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}
