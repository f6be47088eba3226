using System.CommandLine;
using SaeCluster.Client.Views;
using SaeCluster.Grains;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl run sweep.yaml</c>: the whole cluster in this process on the embedded default — one Orleans
/// silo with every role, its grain state in <c>{dir}/.cluster/</c>, blobs in <c>{dir}</c> — with a live view,
/// ending in a results table per SAE. Ctrl-C checkpoints and stops; the same command resumes the sweep.
/// </summary>
public static class RunCommand
{
    public const string DefaultSlots = "producer=1,trainer=4";

    public static Command Create()
    {
        var file = new Argument<string>("sweep") { Description = "sweep YAML (see examples/)" };
        var dir = new Option<string>("--dir") { Description = "where the cluster keeps its state and the sweep's blobs: {dir}/{sweep}/saes/… holds the SAEs", DefaultValueFactory = _ => "runs" };
        var slots = new Option<string>("--slots") { Description = "producers and trainers run at once", DefaultValueFactory = _ => DefaultSlots };
        var overwrite = new Option<bool>("--overwrite") { Description = "delete an earlier sweep of the same name (its SAEs and shards too) and start over" };
        var quiet = new Option<bool>("--quiet") { Description = "no live view; only the results table" };
        var metrics = new Option<string?>("--metrics") { Description = "serve Prometheus metrics at http://HOST:PORT/metrics while the sweep runs (e.g. 127.0.0.1:9464)" };
        var cmd = new Command("run", "Run a sweep on this machine (the cluster in one process: an Orleans silo, a local folder), with a live view; resumable");
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
        Dictionary<string, int> slots;
        try { slots = WorkOptions.ParseSlots(slotSpec); }
        catch (ArgumentException e) { throw new ConfigException("--slots", e.Message.Replace("--slots: ", "")); }
        dir = Path.GetFullPath(dir);
        if (File.Exists(dir)) throw new ConfigException("--dir", $"{dir} is a file");
        var (meters, metricsUrl) = metricsAddress != null ? MetricsEndpoint.Start(metricsAddress) : (null, null);
        using var _ = meters;
        if (metricsUrl != null && !quiet) Console.Error.WriteLine($"metrics: {metricsUrl}");
        // decided (probed) before the silo's work competes for the cores; its grains share this process and log it no more
        if (!quiet && (spec.Training.UsesAutoPrecision || spec.ModelPrecision == EncoderPrecision.Auto))
            SaeCluster.Compute.Bf16Choice.ReportOnce(Console.Error.WriteLine);

        string clusterDir = Path.Combine(dir, ".cluster");
        var blobs = new LocalBlobStore(dir);
        await blobs.InitializeAsync(ct);
        var log = new SiloLog(Path.Combine(clusterDir, "silo.log"));
        var work = new WorkOptions { Slots = slots, WorkDirectory = Path.Combine(clusterDir, "work") };
        EmbeddedSilo silo;
        try { silo = await EmbeddedSilo.StartAsync(clusterDir, blobs, work, log.Write, name: $"embedded-{Environment.ProcessId}", ct: ct); }
        catch (IOException e) when (e.Message.Contains("in use", StringComparison.Ordinal)) { throw new ConfigException("--dir", e.Message); }
        await using (silo)
        {
            var service = silo.Sweeps;
            var existing = await service.GetAsync(spec.Name, ct);
            if (existing != null && overwrite)
            {
                if (!quiet) Console.Error.WriteLine($"deleting the earlier sweep '{spec.Name}' (--overwrite)");
                await service.DeleteAsync(spec.Name, ct);
                existing = null;
            }
            if (existing != null)
            {
                string stored = await service.GetSpecAsync(spec.Name, ct) ?? "";
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
                        $"~{spec.EstimatedProducers} producer(s); slots {WorkOptions.Describe(slots)}");
            }

            SweepStatus status;
            try
            {
                status = await SweepView.FollowAsync(async c => await service.GetAsync(spec.Name, c) ?? throw new InvalidOperationException($"sweep '{spec.Name}' disappeared from {dir}"),
                    quiet, TimeSpan.FromMilliseconds(500), ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // the silo stops gracefully: running trainers checkpoint before it returns
                Console.Error.WriteLine("stopping: saving checkpoints…");
                await silo.StopAsync(CancellationToken.None);
                Console.Error.WriteLine($"stopped; run the same command again to resume (log: {Shown(log.Path)})");
                throw;
            }
            await silo.StopAsync(CancellationToken.None);
            SweepView.Results(status, blob => Shown(Path.Combine(dir, blob)));
            if (status.State == "done")
            {
                // the sweep's report: Pareto plots, histograms, by position, training curves, the latent browser
                string report = Report.ReportBuilder.Write(Path.Combine(dir, SweepKeys.BlobPrefix(spec.Name)));
                Console.WriteLine($"report: {Shown(report)}");
            }
            if (!quiet) Console.Error.WriteLine($"silo log: {Shown(log.Path)}");
            return status.State == "done" ? 0 : CliErrors.Failed;
        }
    }
}
