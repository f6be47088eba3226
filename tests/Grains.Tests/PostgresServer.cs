using System.Diagnostics;
using Npgsql;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// A throwaway PostgreSQL server (Debian's postgresql package) started by the tests themselves: initdb
/// into a temp folder, pg_ctl start on a free loopback port with a private socket folder, stopped and
/// deleted at the end. Runs the server binaries as the <c>postgres</c> user when the tests run as root
/// (PostgreSQL refuses root). Fails loudly when PostgreSQL is not installed (scripts/install-deps.sh).
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "saecluster-pg-" + Guid.NewGuid().ToString("N")[..8]);
    string _bin = "";
    public int Port { get; private set; }
    public string AdminConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false";

    public async Task InitializeAsync()
    {
        _bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb"))).Order().LastOrDefault() ?? ""
            : "";
        if (_bin == "") throw new InvalidOperationException("PostgreSQL is not installed (apt-get install postgresql; scripts/install-deps.sh does it)");
        Directory.CreateDirectory(_dir);
        string data = Path.Combine(_dir, "data"), sock = Path.Combine(_dir, "sock");
        Directory.CreateDirectory(sock);
        if (Environment.UserName == "root") Run("chown", "-R", "postgres:postgres", _dir);
        Port = LoopbackPorts.Free();
        Pg("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8");
        Start();
        await using var c = new NpgsqlConnection(AdminConnectionString);
        await c.OpenAsync();
    }

    /// <summary>Starts the server (again) on the same port and data.</summary>
    public void Start() =>
        Pg("pg_ctl", "-D", Path.Combine(_dir, "data"), "-l", Path.Combine(_dir, "log"), "-w", "-t", "30", "-o",
            $"-p {Port} -k {Path.Combine(_dir, "sock")} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start");

    /// <summary>Stops the server (fast shutdown: open connections are cut), as an outage or a restart would.</summary>
    public void Stop() => Pg("pg_ctl", "-D", Path.Combine(_dir, "data"), "-m", "fast", "-w", "stop");

    /// <summary>A fresh, empty database on the server.</summary>
    public async Task<string> NewDatabaseAsync()
    {
        string name = "t_" + Guid.NewGuid().ToString("N")[..12];
        await using var c = new NpgsqlConnection(AdminConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
        await cmd.ExecuteNonQueryAsync();
        return $"Host=127.0.0.1;Port={Port};Username=postgres;Database={name}";
    }

    public Task DisposeAsync()
    {
        try { Pg("pg_ctl", "-D", Path.Combine(_dir, "data"), "-m", "immediate", "stop"); } catch (InvalidOperationException) { }
        try { Directory.Delete(_dir, true); } catch (IOException) { }
        return Task.CompletedTask;
    }

    void Pg(string tool, params string[] args)
    {
        string exe = Path.Combine(_bin, tool);
        if (Environment.UserName == "root") Run("runuser", ["-u", "postgres", "--", exe, .. args]);
        else Run(exe, args);
    }

    static void Run(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}");
    }
}
