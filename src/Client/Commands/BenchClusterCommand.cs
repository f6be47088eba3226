using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using SaeCluster.Grains;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl bench cluster</c>: the actor runtime's own costs on a cluster store — lease operations per
/// second (claim, renew, fenced commit) from many concurrent claimers, and the coordination overhead of
/// running many small actors through a silo (1 − useful actor time / slot time).
/// </summary>
public static class BenchClusterCommand
{
    public static Command Create()
    {
        var store = new Option<string?>("--cluster") { Description = "cluster store: sqlite:PATH or a PostgreSQL connection string (default: a temporary SQLite file)" };
        var actors = new Option<int>("--actors") { Description = "actors for the lease benchmark", DefaultValueFactory = _ => 2000 };
        var claimers = new Option<int>("--claimers") { Description = "concurrent claimers", DefaultValueFactory = _ => 16 };
        var small = new Option<int>("--small-actors") { Description = "actors for the overhead benchmark", DefaultValueFactory = _ => 64 };
        var workMs = new Option<int>("--work-ms") { Description = "work per small actor (ms)", DefaultValueFactory = _ => 500 };
        var slots = new Option<int>("--slots") { Description = "silo slots for the overhead benchmark", DefaultValueFactory = _ => 8 };
        var cmd = new Command("cluster", "Lease operations/s and coordination overhead of the actor runtime on SQLite or PostgreSQL");
        foreach (var o in new Option[] { store, actors, claimers, small, workMs, slots }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() => RunAsync(pr.GetValue(store), pr.GetValue(actors), pr.GetValue(claimers), pr.GetValue(small),
            pr.GetValue(workMs), pr.GetValue(slots), ct).GetAwaiter().GetResult()));
        return cmd;
    }

    static async Task<int> RunAsync(string? location, int n, int claimers, int smallActors, int workMs, int slots, CancellationToken ct)
    {
        string? tmp = null;
        if (location == null)
        {
            tmp = Path.Combine(Path.GetTempPath(), $"saecluster-bench-{Guid.NewGuid():N}");
            location = "sqlite:" + Path.Combine(tmp, "cluster.db");
        }
        IClusterStore store;
        try { store = ClusterStores.Open(location); }
        catch (ArgumentException e) { throw new Sae.ConfigException("--cluster", e.Message); }
        try
        {
            await store.InitializeAsync(ct);
            string kind = ClusterStores.Parse(location).Kind.ToString();
            var inv = CultureInfo.InvariantCulture;

            // 1. lease operations: create n actors, then claimers race to claim → renew → commit Done each
            string prefix = $"bench/{Guid.NewGuid():N}/";
            var sw = Stopwatch.StartNew();
            await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = claimers, CancellationToken = ct },
                async (i, c) => await store.CreateActorAsync($"{prefix}{i:D6}", "bench", prefix, "{}", c));
            double createSeconds = sw.Elapsed.TotalSeconds;
            long claims = 0, renews = 0, commits = 0, empty = 0;
            sw.Restart();
            await Parallel.ForAsync(0, claimers, new ParallelOptions { MaxDegreeOfParallelism = claimers, CancellationToken = ct }, async (w, c) =>
            {
                string silo = $"bench-{w}";
                while (true)
                {
                    var lease = await store.TryClaimAsync(silo, [prefix], TimeSpan.FromSeconds(30), c);
                    if (lease is not ActorLease l) { Interlocked.Increment(ref empty); break; }
                    Interlocked.Increment(ref claims);
                    if (!await store.RenewAsync(l.Key, l.Epoch, silo, TimeSpan.FromSeconds(30), c)) throw new InvalidOperationException($"renewal of {l.Key} refused");
                    Interlocked.Increment(ref renews);
                    if (!await store.CommitAsync(l.Key, l.Epoch, "{\"done\":true}", ActorStatus.Done, c)) throw new InvalidOperationException($"commit of {l.Key} refused");
                    Interlocked.Increment(ref commits);
                }
            });
            double leaseSeconds = sw.Elapsed.TotalSeconds;
            if (claims != n) throw new InvalidOperationException($"{claims} claims for {n} actors: an actor was claimed twice or never");
            await store.DeleteAllAsync(prefix, ct);
            long ops = claims + renews + commits;

            // 2. coordination overhead: small actors through a real silo with production settings (a first round warms the JIT)
            var (wall, ideal) = await OverheadRoundAsync(store, Math.Min(smallActors, slots), workMs, slots, ct);
            (wall, ideal) = await OverheadRoundAsync(store, smallActors, workMs, slots, ct);
            double overhead = 1 - ideal / wall;

            var table = new Table().Border(TableBorder.Rounded).Title($"[bold]actor runtime on {kind}[/] ({Markup.Escape(MaskedLocation(location))})");
            foreach (var c in new[] { "measure", "value", "detail" }) table.AddColumn(new TableColumn(c).RightAligned());
            table.AddRow("actor creates/s", (n / createSeconds).ToString("N0", inv), $"{n:N0} actors, {claimers} writers");
            table.AddRow("lease ops/s", (ops / leaseSeconds).ToString("N0", inv), $"{claims:N0} claims + {renews:N0} renewals + {commits:N0} fenced commits by {claimers} claimers in {leaseSeconds:F2} s");
            table.AddRow("claims/s", (claims / leaseSeconds).ToString("N0", inv), "each a full claim → renew → commit cycle");
            table.AddRow("coordination overhead", overhead.ToString("P2", inv), $"{smallActors} actors × {workMs} ms on {slots} slots: {wall:F3} s wall, {ideal:F3} s of work per slot");
            AnsiConsole.Write(table);
            return 0;
        }
        finally
        {
            await store.DisposeAsync();
            if (tmp != null && Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    // Runs n small actors through a silo; returns (wall seconds, seconds of work per slot as the actors measured it).
    static async Task<(double Wall, double Ideal)> OverheadRoundAsync(IClusterStore store, int smallActors, int workMs, int slots, CancellationToken ct)
    {
        string sweep = $"bench/{Guid.NewGuid():N}/";
        for (int i = 0; i < smallActors; i++) await store.CreateActorAsync($"{sweep}{i:D4}", "bench-work", "bench-work", "{}", ct);
        string work = Path.Combine(Path.GetTempPath(), $"saecluster-bench-work-{Guid.NewGuid():N}");
        var workTicks = new StrongBox<long>();
        var options = new SiloOptions("bench-silo", new Dictionary<string, int> { ["bench-work"] = slots }, work);
        var runtime = new SiloRuntime(options, store, new LocalBlobStore(work), _ => new SmallActor(workMs, workTicks));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sw = Stopwatch.StartNew();
        var silo = Task.Run(() => runtime.RunAsync(stop.Token));
        while ((await store.ListAsync(sweep, null, ct)).Any(a => a.Status != ActorStatus.Done))
        {
            if (silo.IsCompleted) await silo;
            await Task.Delay(5, ct);
        }
        double wall = sw.Elapsed.TotalSeconds;
        stop.Cancel();
        await silo;
        await store.DeleteAllAsync(sweep, ct);
        if (Directory.Exists(work)) Directory.Delete(work, true);
        // useful time is what the actors measured themselves doing their work; the rest of the slot time is coordination
        // (claims, renewals, commits, hand-offs between actors) — with as many actors per slot, every slot is busy throughout
        double useful = workTicks.Value / (double)Stopwatch.Frequency, ideal = useful / slots;
        return (wall, ideal);
    }

    static string MaskedLocation(string location) =>
        System.Text.RegularExpressions.Regex.Replace(location, "(?i)(password=)[^;]*", "$1***");

    /// <summary>A stand-in for a small trainer: works in 50 ms slices, committing progress in the background once a second as trainers do, then finishes.</summary>
    sealed class SmallActor(int workMs, StrongBox<long> workTicks) : IActor
    {
        public async Task RunAsync(ActorContext ctx, CancellationToken ct)
        {
            var state = new System.Text.Json.Nodes.JsonObject();
            var sinceCommit = Stopwatch.StartNew();
            for (int done = 0; done < workMs; done += 50)
            {
                long t0 = Stopwatch.GetTimestamp();
                await Task.Delay(Math.Min(50, workMs - done), ct);
                Interlocked.Add(ref workTicks.Value, Stopwatch.GetTimestamp() - t0);
                state["done_ms"] = done;
                if (sinceCommit.Elapsed >= TimeSpan.FromSeconds(1)) { ctx.CommitInBackground(state); sinceCommit.Restart(); }
            }
            await ctx.CommitAsync(state, ActorStatus.Done, ct);
        }
    }
}
