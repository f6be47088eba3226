using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using SaeCluster.Grains;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl bench cluster</c>: what the Orleans machinery costs on a cluster location (PostgreSQL through
/// the ADO.NET provider, or a folder): ETag-checked grain state writes per second from many concurrent
/// writers, and the coordination overhead of running many small pieces of work through a silo's slots, driven
/// as a sweep drives its producers (1 − useful work time per slot / wall time).
/// </summary>
public static class BenchClusterCommand
{
    public static Command Create()
    {
        var cluster = new Option<string?>("--cluster") { Description = "PostgreSQL (Host=…;Database=… or postgres://…) or a folder (default: a temporary folder)" };
        var writes = new Option<int>("--writes") { Description = "state writes for the write benchmark", DefaultValueFactory = _ => 2000 };
        var writers = new Option<int>("--writers") { Description = "concurrent writers", DefaultValueFactory = _ => 16 };
        var small = new Option<int>("--small-actors") { Description = "pieces of work for the overhead benchmark", DefaultValueFactory = _ => 64 };
        var workMs = new Option<int>("--work-ms") { Description = "work per piece (ms)", DefaultValueFactory = _ => 500 };
        var slots = new Option<int>("--slots") { Description = "slots for the overhead benchmark", DefaultValueFactory = _ => 8 };
        var cmd = new Command("cluster", "Grain state writes/s and coordination overhead of the Orleans work machinery on PostgreSQL or a folder");
        foreach (var o in new Option[] { cluster, writes, writers, small, workMs, slots }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() => RunAsync(pr.GetValue(cluster), pr.GetValue(writes), pr.GetValue(writers), pr.GetValue(small),
            pr.GetValue(workMs), pr.GetValue(slots), ct).GetAwaiter().GetResult()));
        return cmd;
    }

    static async Task<int> RunAsync(string? location, int writes, int writers, int smallActors, int workMs, int slots, CancellationToken ct)
    {
        string tmp = Path.Combine(Path.GetTempPath(), $"saecluster-bench-{Guid.NewGuid():N}");
        ClusterLocation where;
        try { where = location == null ? ClusterLocation.Local(Path.Combine(tmp, "cluster")) : ClusterLocation.Parse(location); }
        catch (ArgumentException e) { throw new Sae.ConfigException("--cluster", e.Message); }
        if (where.IsPostgres) await OrleansPostgresSchema.ApplyAsync(where.PostgresConnectionString!, ct);
        string id = $"bench-{Guid.NewGuid():N}"[..18]; // its own service and cluster: never joins a real one
        var config = new ClusterConfig
        {
            Location = where, ServiceId = id, ClusterId = id, SiloName = "bench-silo", SiloPort = FreePorts.Next(), GatewayPort = FreePorts.Next(),
            Work = new WorkOptions { Slots = new Dictionary<string, int> { [SiloRoles.Producer] = 1, [SiloRoles.Trainer] = slots }, WorkDirectory = Path.Combine(tmp, "work") },
        };
        var blobs = new LocalBlobStore(Path.Combine(tmp, "blobs"));
        await blobs.InitializeAsync(ct);
        try
        {
            await using var silo = await EmbeddedSilo.StartAsync(config, blobs, ct: ct);
            var inv = CultureInfo.InvariantCulture;

            // 1. ETag-checked state writes: each writer reads and writes its own grains' states in turn, as work grains commit
            var storage = silo.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Default);
            var sw = Stopwatch.StartNew();
            long done = 0;
            await Parallel.ForAsync(0, writers, new ParallelOptions { MaxDegreeOfParallelism = writers, CancellationToken = ct }, async (w, c) =>
            {
                var grain = GrainId.Create("benchstate", $"{id}/{w:D3}");
                var state = new GrainState<BenchWorkState>(new BenchWorkState());
                await storage.ReadStateAsync("bench", grain, state);
                state.State ??= new BenchWorkState();
                while (Interlocked.Increment(ref done) <= writes)
                {
                    state.State.DoneMs++;
                    state.State.Epoch = state.State.DoneMs;
                    await storage.WriteStateAsync("bench", grain, state);
                }
            });
            double writeSeconds = sw.Elapsed.TotalSeconds;
            // the peer, on PostgreSQL: the same version-checked single-row writes straight through Npgsql
            double? rawSeconds = where.IsPostgres ? await RawWritesAsync(where.PostgresConnectionString!, id, writes, writers,
                System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new BenchWorkState { DoneMs = 1234, Epoch = 1234, Phase = "running", Silo = "bench-silo" }), ct) : null;

            // 2. coordination overhead: small pieces of work through the silo's slots (a first round of as many short pieces
            // warms what a long-lived silo has warm: the JIT, and a connection pool as large as the burst of claims needs)
            var (wall, ideal) = await OverheadRoundAsync(silo, id + "/warm", smallActors, 50, slots, ct);
            (wall, ideal) = await OverheadRoundAsync(silo, id + "/run", smallActors, workMs, slots, ct);
            double overhead = 1 - ideal / wall;

            var table = new Table().Border(TableBorder.Rounded).Title($"[bold]Orleans work machinery on {(where.IsPostgres ? "PostgreSQL (ADO.NET)" : "a folder (file storage)")}[/] ({Markup.Escape(where.Display)})");
            foreach (var col in new[] { "measure", "value", "detail" }) table.AddColumn(new TableColumn(col).RightAligned());
            table.AddRow("state writes/s", (writes / writeSeconds).ToString("N0", inv), $"{writes:N0} ETag-checked writes by {writers} writers in {writeSeconds:F2} s");
            if (rawSeconds is double raw)
                table.AddRow("  vs. raw SQL", (writeSeconds > 0 ? raw / writeSeconds : 0).ToString("P0", inv),
                    $"the same writes as plain UPDATE … WHERE version = @v through Npgsql: {writes / raw:N0}/s");
            table.AddRow("coordination overhead", overhead.ToString("P2", inv), $"{smallActors} pieces × {workMs} ms on {slots} slots: {wall:F3} s wall, {ideal:F3} s of work per slot");
            AnsiConsole.Write(table);
            return 0;
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    // n single-row writes by `writers` connections, each checking and bumping the row's version, as the grain storage's write does
    static async Task<double> RawWritesAsync(string connectionString, string id, int writes, int writers, byte[] payload, CancellationToken ct)
    {
        string table = "bench_" + id.Replace("-", "_");
        await using var db = Npgsql.NpgsqlDataSource.Create(connectionString);
        await using (var create = db.CreateCommand($"CREATE TABLE {table} (id integer PRIMARY KEY, version integer NOT NULL, payload bytea)"))
            await create.ExecuteNonQueryAsync(ct);
        try
        {
            await using (var insert = db.CreateCommand($"INSERT INTO {table} SELECT g, 0, NULL FROM generate_series(0, {writers - 1}) g"))
                await insert.ExecuteNonQueryAsync(ct);
            long done = 0;
            var sw = Stopwatch.StartNew();
            await Parallel.ForAsync(0, writers, new ParallelOptions { MaxDegreeOfParallelism = writers, CancellationToken = ct }, async (w, c) =>
            {
                int version = 0;
                await using var conn = await db.OpenConnectionAsync(c);
                while (Interlocked.Increment(ref done) <= writes)
                {
                    await using var cmd = new Npgsql.NpgsqlCommand($"UPDATE {table} SET version = version + 1, payload = @p WHERE id = @id AND version = @v RETURNING version", conn);
                    cmd.Parameters.AddWithValue("p", payload);
                    cmd.Parameters.AddWithValue("id", w);
                    cmd.Parameters.AddWithValue("v", version);
                    version = (int)(await cmd.ExecuteScalarAsync(c) ?? throw new InvalidOperationException("a raw write lost its version check"));
                }
            });
            return sw.Elapsed.TotalSeconds;
        }
        finally
        {
            await using var drop = db.CreateCommand($"DROP TABLE {table}");
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    // Starts n pieces of work, waits until every one is done; returns (wall seconds, seconds of work per slot as the pieces measured it).
    static async Task<(double Wall, double Ideal)> OverheadRoundAsync(EmbeddedSilo silo, string prefix, int n, int workMs, int slots, CancellationToken ct)
    {
        BenchWorkGrain.WorkMs = workMs;
        Interlocked.Exchange(ref BenchWorkGrain.WorkTicks, 0);
        BenchWorkGrain.Finished = System.Threading.Channels.Channel.CreateUnbounded<string>();
        var grains = Enumerable.Range(0, n).Select(i => silo.Grains.GetGrain<IBenchWorkGrain>($"{prefix}/{i:D4}")).ToArray();
        // as a sweep drives its producers: twice as many pieces started as there are slots (one queued behind each
        // running one), the next started as soon as one has committed Done
        int window = Math.Min(n, 2 * slots), started = window;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(grains.Take(window).Select(g => g.StartAsync()));
        for (int finished = 0; finished < n; finished++)
        {
            await BenchWorkGrain.Finished.Reader.ReadAsync(ct);
            if (started < n) _ = grains[started++].StartAsync();
        }
        double wall = sw.Elapsed.TotalSeconds; // the last piece's Done is committed
        var reports = await Task.WhenAll(grains.Select(g => g.GetReportAsync()));
        if (reports.Any(r => r.Status != WorkStatus.Done)) throw new InvalidOperationException("a piece of work is not done although all reported so");
        // useful time is what the pieces measured themselves doing; the rest of the slot time is coordination
        // (activation, the epoch claim, slot hand-offs, commits) — with many pieces per slot every slot is busy throughout
        double useful = Interlocked.Read(ref BenchWorkGrain.WorkTicks) / (double)Stopwatch.Frequency;
        await Task.WhenAll(grains.Select(g => g.ForgetAsync()));
        return (wall, useful / slots);
    }
}
