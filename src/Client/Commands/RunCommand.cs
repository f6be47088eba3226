using System.CommandLine;
using SaeCluster.Client.Views;
using SaeCluster.Grains;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl run sweep.yaml</c>: the whole cluster in this process on the embedded default — a SQLite
/// cluster store and a local blob folder under <c>--dir</c>, one silo running the coordinator, producers
/// and trainers — with a live view, ending in a results table per SAE. Ctrl-C checkpoints and stops; the
/// same command resumes the sweep.
/// </summary>
public static class RunCommand
{
    public const string DefaultSlots = "coordinator=1,producer=1,trainer=4";

    public static Command Create()
    {
        var file = new Argument<string>("sweep") { Description = "sweep YAML (see examples/)" };
        var dir = new Option<string>("--dir") { Description = "where the cluster keeps its state and the sweep's blobs: {dir}/{sweep}/saes/… holds the SAEs", DefaultValueFactory = _ => "runs" };
        var slots = new Option<string>("--slots") { Description = "actors run at once, per kind", DefaultValueFactory = _ => DefaultSlots };
        var overwrite = new Option<bool>("--overwrite") { Description = "delete an earlier sweep of the same name (its SAEs and shards too) and start over" };
        var quiet = new Option<bool>("--quiet") { Description = "no live view; only the results table" };
        var metrics = new Option<string?>("--metrics") { Description = "serve Prometheus metrics at http://HOST:PORT/metrics while the sweep runs (e.g. 127.0.0.1:9464)" };
        var cmd = new Command("run", "Run a sweep on this machine (embedded cluster: SQLite + local folder), with a live view; resumable");
        cmd.Arguments.Add(file);
        foreach (var o in new Option[] { dir, slots, overwrite, quiet, metrics }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() => RunAsync(pr.GetValue(file)!, pr.GetValue(dir)!, pr.GetValue(slots)!, pr.GetValue(overwrite), pr.GetValue(quiet),
            pr.GetValue(metrics), ct).GetAwaiter().GetResult()));
        return cmd;
    }

    // relative to the current folder when inside it, else absolute
    static string Shown(string path)
    {
        string rel = Path.GetRelativePath(Environment.CurrentDirectory, path);
        return rel.StartsWith("..", StringComparison.Ordinal) ? path : rel;
    }

    static async Task<int> RunAsync(string path, string dir, string slotSpec, bool overwrite, bool quiet, string? metricsAddress, CancellationToken ct)
    {
        var spec = SweepSpec.Load(path);
        using var collector = metricsAddress != null ? SaeClusterMetrics.CreateCollector() : null;
        MetricsServer? metrics = null;
        if (metricsAddress != null)
        {
            try { metrics = new MetricsServer(metricsAddress, collector!); }
            catch (ArgumentException e) { throw new ConfigException("--metrics", e.Message); }
        }
        await using var _ = metrics;
        if (metrics != null && !quiet) Console.Error.WriteLine($"metrics: {metrics.Url}");
        Dictionary<string, int> slots;
        try { slots = SiloOptions.ParseSlots(slotSpec); }
        catch (ArgumentException e) { throw new ConfigException("--slots", e.Message.Replace("--slots: ", "")); }
        foreach (var kind in ActorKinds.All)
            if (slots.GetValueOrDefault(kind) < 1) throw new ConfigException("--slots", $"the embedded cluster needs at least one {kind} slot (got {slotSpec})");
        dir = Path.GetFullPath(dir);
        if (File.Exists(dir)) throw new ConfigException("--dir", $"{dir} is a file");
        string clusterDir = Path.Combine(dir, ".cluster");
        await using var store = new SqliteClusterStore(Path.Combine(clusterDir, "cluster.db"));
        await store.InitializeAsync(ct);
        var blobs = new LocalBlobStore(dir);
        await blobs.InitializeAsync(ct);
        var service = new SweepService(store, blobs);

        var existing = await service.GetAsync(spec.Name, ct);
        if (existing != null && overwrite)
        {
            if (!quiet) Console.Error.WriteLine($"deleting the earlier sweep '{spec.Name}' (--overwrite)");
            await service.DeleteAsync(spec.Name, ct);
            existing = null;
        }
        if (existing != null)
        {
            string stored = (string?)ActorState.Parse((await store.GetAsync(SweepKeys.Coordinator(spec.Name), ct))!.State)["spec"] ?? "";
            if (existing.IsTerminal)
                throw new ConfigException(path, $"sweep '{spec.Name}' already ran in {dir} ({existing.State}); pass --overwrite to run it again, or change name:");
            if (stored != spec.ToYaml())
                throw new ConfigException(path, $"sweep '{spec.Name}' in {dir} is unfinished but was started from different settings; pass --overwrite to start over, or restore them");
            if (!quiet) Console.Error.WriteLine($"resuming sweep '{spec.Name}' from its last checkpoints");
        }
        else
        {
            await service.SubmitAsync(spec, ct);
            if (!quiet)
                Console.Error.WriteLine($"sweep '{spec.Name}': {spec.Sites.Count} site(s) × {spec.Training.Saes.Count} SAE(s), {spec.Training.Tokens:N0} tokens each, " +
                    $"~{spec.EstimatedProducers} producer(s); slots {SiloOptions.Describe(slots)}");
        }

        // the silo stops on Ctrl-C (trainers checkpoint, leases are handed back) or once the sweep has ended
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var log = new SiloLog(Path.Combine(clusterDir, "silo.log"));
        var options = new SiloOptions($"embedded-{Environment.ProcessId}", slots, Path.Combine(clusterDir, "work"), lease: TimeSpan.FromSeconds(30));
        var silo = new SiloRuntime(options, store, blobs, SweepActors.Create, log.Write);
        var siloTask = Task.Run(() => silo.RunAsync(stop.Token));
        SweepStatus status;
        try
        {
            status = await SweepView.FollowAsync(async c =>
            {
                if (siloTask.IsFaulted) await siloTask; // surface a silo crash instead of waiting forever
                return await service.GetAsync(spec.Name, c) ?? throw new InvalidOperationException($"sweep '{spec.Name}' disappeared from {dir}");
            }, quiet, TimeSpan.FromMilliseconds(500), ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine("stopping: saving checkpoints…");
            await stop.CancelAsync();
            await siloTask;
            Console.Error.WriteLine($"stopped; run the same command again to resume (log: {log.Path})");
            throw;
        }
        await stop.CancelAsync();
        await siloTask;
        SweepView.Results(status, blob => Shown(Path.Combine(dir, blob)));
        if (!quiet) Console.Error.WriteLine($"silo log: {Shown(log.Path)}");
        return status.State == "done" ? 0 : CliErrors.Failed;
    }
}
