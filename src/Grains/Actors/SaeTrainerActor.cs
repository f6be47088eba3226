using System.Diagnostics;
using System.Text.Json.Nodes;
using SaeCluster.Models;
using SaeCluster.Sae;

namespace SaeCluster.Grains;

/// <summary>
/// Trains every SAE of a sweep on one site (layer × kind) in one pass over its activations, streaming
/// shards as producers commit them. Checkpoints go to blob storage under a name unique to
/// (epoch, step), and only a fenced commit of the actor's state makes one current — so a stale activation
/// can upload but never publish. A re-activation resumes from the last committed checkpoint. At the end
/// it evaluates each SAE on held-out tokens and writes it under <c>{sweep}/saes/{layer}.{site}/{name}/</c>.
/// </summary>
public sealed class SaeTrainerActor : IActor
{
    /// <summary>Least time between progress commits.</summary>
    public TimeSpan ProgressEvery { get; init; } = TimeSpan.FromSeconds(1);

    public async Task RunAsync(ActorContext ctx, CancellationToken ct)
    {
        string sweep = SweepKeys.SweepOf(ctx.Key);
        var (layer, site) = SweepKeys.SiteOf(ctx.Key);
        // /metrics shows this trainer while it runs, and its final numbers a while after it ends (done or failed)
        var telemetry = SaeClusterMetrics.Trainers.Add(new TrainerTelemetry(sweep, layer, site.Name()));
        try { await TrainAsync(ctx, sweep, layer, site, telemetry, ct); }
        finally { SaeClusterMetrics.Trainers.Remove(telemetry, telemetry.Phase is "done" or "failed" ? SaeClusterMetrics.Linger : TimeSpan.Zero); }
    }

    async Task TrainAsync(ActorContext ctx, string sweep, int layer, Models.HookSite site, TrainerTelemetry telemetry, CancellationToken ct)
    {
        var spec = await SweepSpecCache.LoadAsync(ctx.Store, sweep, ct);
        var state = ctx.StateObject();
        var config = spec.Training;
        state["total_tokens"] = config.TotalSteps * config.BatchSize;
        int d = site.Width(spec.Model);

        var source = new StreamingShardSource(d, ctx.Blobs, c => CatalogAsync(ctx.Store, sweep, layer, site, c), config.Seed, spec.ShuffleShards,
            Path.Combine(ctx.WorkDirectory, "shards"), ct, waiting: message =>
            {
                telemetry.Phase = "waiting";
                state["phase"] = "waiting";
                state["message"] = message;
                ctx.CommitAsync(state, ActorStatus.Running, ct).GetAwaiter().GetResult();
            });
        using var trainer = new MultiSaeTrainer(config, source);
        string logDir = Path.Combine(ctx.WorkDirectory, "logs");
        string? checkpoint = (string?)state["checkpoint"];
        if (checkpoint != null)
        {
            string dir = Path.Combine(ctx.WorkDirectory, "resume");
            await DownloadPrefixAsync(ctx.Blobs, checkpoint, dir, ct);
            TrainerCheckpoint.Load(trainer, dir);
            if (Directory.Exists(Path.Combine(dir, "logs"))) CopyFolder(Path.Combine(dir, "logs"), logDir);
            Directory.Delete(dir, true);
            ctx.Log($"resumed from {checkpoint} at step {trainer.Step}");
        }
        else trainer.Initialize();
        var curves = new TrainingLog(logDir, trainer.Learners.Select(l => l.Config.Name), checkpoint != null ? trainer.Step : null);
        telemetry.Saes = [.. trainer.Learners.Select(l => new SaeTelemetry(l.Config.Name))];
        telemetry.Step = trainer.Step;
        telemetry.Tokens = trainer.TokensTrained;
        telemetry.Phase = "training";

        state["phase"] = "training";
        state.Remove("message");
        await ctx.CommitAsync(state, ActorStatus.Running, ct);
        var lastCommit = Stopwatch.StartNew();
        try
        {
            trainer.Run(ct, p =>
            {
                curves.Append(p);
                telemetry.Phase = "training";
                Report(telemetry, p);
                if ((string?)state["phase"] != "training")
                {
                    // training again after waiting for shards: the row must not keep saying "waiting"
                    state["phase"] = "training";
                    state.Remove("message");
                }
                state["step"] = p.Step;
                state["tokens"] = p.Tokens;
                state["tokens_per_s"] = Math.Round(p.TokensPerSecond, 1);
                state["saes"] = new JsonArray(p.Saes.Select(s => (JsonNode)new JsonObject
                {
                    ["name"] = s.Name, ["l0"] = Math.Round(s.Metrics.L0, 3), ["fvu"] = Math.Round(s.Metrics.Fvu, 5),
                    ["dead_fraction"] = Math.Round(s.Metrics.DeadFraction, 4), ["loss"] = Math.Round(s.Metrics.Loss, 5),
                }).ToArray());
                if (lastCommit.Elapsed >= ProgressEvery)
                {
                    ctx.CommitInBackground(state); // the training loop does not wait for the store
                    lastCommit.Restart();
                }
            }, t => SaveCheckpointAsync(ctx, t, curves, state, layer, site, CancellationToken.None).GetAwaiter().GetResult());
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // silo shutting down: save where we are so the next activation loses nothing (not when the lease is already gone)
            if (!ctx.LeaseLost && trainer.Step > ((long?)state["checkpoint_step"] ?? 0))
                await SaveCheckpointAsync(ctx, trainer, curves, state, layer, site, CancellationToken.None);
            throw;
        }
        catch (TrainingDivergedException e)
        {
            telemetry.Phase = "failed";
            foreach (var s in telemetry.Saes) if (s.Name == e.Sae) s.Loss = e.Loss; // the NaN-loss alert sees it
            throw new ActorFailedException(e.Message, e);
        }

        // the final weights are checkpointed first, so evaluation and writing can be redone after a crash
        if (trainer.Step > ((long?)state["checkpoint_step"] ?? 0))
            await SaveCheckpointAsync(ctx, trainer, curves, state, layer, site, ct);
        state["phase"] = telemetry.Phase = "evaluating";
        await ctx.CommitAsync(state, ActorStatus.Running, ct);
        var evals = trainer.Evaluate(ct);

        state["phase"] = telemetry.Phase = "writing";
        await ctx.CommitAsync(state, ActorStatus.Running, ct);
        double tokensPerSecond = trainer.TokensTrained / Math.Max(1e-9, trainer.TrainSeconds);
        var results = new JsonArray();
        for (int i = 0; i < trainer.Learners.Count; i++)
        {
            var l = trainer.Learners[i];
            string folder = Path.Combine(ctx.WorkDirectory, "out", l.Config.Name);
            SaeOutputWriter.Write(folder, l, trainer, evals[i], tokensPerSecond, curves.PathFor(l.Config.Name));
            string prefix = SweepKeys.SaePrefix(sweep, layer, site, l.Config.Name);
            await UploadFolderAsync(ctx.Blobs, folder, prefix, ct);
            results.Add(new JsonObject
            {
                ["name"] = l.Config.Name, ["l0"] = Math.Round(evals[i].L0, 3), ["fvu"] = Math.Round(evals[i].Fvu, 5), ["mse"] = evals[i].Mse,
                ["dead_fraction"] = Math.Round(evals[i].DeadFraction, 4), ["output"] = prefix,
            });
        }
        state["results"] = results;
        state["phase"] = "done";
        state["tokens_per_s"] = Math.Round(tokensPerSecond, 1);
        await ctx.CommitAsync(state, ActorStatus.Done, ct);
        telemetry.Phase = "done";
        await ctx.Blobs.DeletePrefixAsync(SweepKeys.CheckpointPrefix(sweep, layer, site), ct);
        if (!spec.KeepShards) await ctx.Blobs.DeletePrefixAsync(SweepKeys.ShardPrefix(sweep, layer, site), ct);
        ctx.Log($"done: {trainer.Learners.Count} SAE(s), {trainer.TokensTrained:N0} tokens at {tokensPerSecond:N0} tok/s");
    }

    // The latest step's numbers into /metrics (a scrape reads them from another thread; each field is written whole).
    static void Report(TrainerTelemetry t, TrainingProgress p)
    {
        Volatile.Write(ref t.Step, p.Step);
        Volatile.Write(ref t.Tokens, p.Tokens);
        for (int i = 0; i < p.Saes.Count && i < t.Saes.Length; i++)
        {
            var m = p.Saes[i].Metrics;
            var s = t.Saes[i];
            s.L0 = m.L0;
            s.Fvu = m.Fvu;
            s.DeadFraction = m.DeadFraction;
            s.Loss = m.Loss;
            s.LearningRate = m.LearningRate;
        }
    }

    /// <summary>The committed shards of one site, from the producers' rows.</summary>
    public static async Task<ShardCatalog> CatalogAsync(IClusterStore store, string sweep, int layer, Models.HookSite site, CancellationToken ct)
    {
        var producers = await store.ListAsync(SweepKeys.ProducerPrefix(sweep), ActorKinds.Producer, ct);
        string folder = Models.SiteSelection.FolderName(layer, site);
        var shards = new Dictionary<int, ShardEntry>();
        long total = 0, end = long.MaxValue;
        foreach (var p in producers)
        {
            var s = ActorState.Parse(p.State);
            total += (int?)s["count"] ?? 0;
            if ((int?)s["end"] is int e) end = Math.Min(end, e);
            if (s["shards"] is not JsonObject committed) continue;
            foreach (var (index, entry) in committed)
                if (entry?["sha256"]?[folder] is JsonNode sha)
                    shards[int.Parse(index)] = new ShardEntry(SweepKeys.ShardBlob(sweep, layer, site, int.Parse(index)), (long)entry["rows"]!, (string)sha!);
        }
        // producers the coordinator skipped (they start past the corpus' end) have nothing to add
        bool complete = producers.Count > 0 && producers.All(p => p.Status == ActorStatus.Done
            || p.Status == ActorStatus.Cancelled && (int?)ActorState.Parse(p.State)["first"] >= end);
        return new ShardCatalog(shards, complete, (int)Math.Min(total, end));
    }

    // Uploads the checkpoint under a name unique to this epoch and step, then makes it current by a fenced commit.
    static async Task SaveCheckpointAsync(ActorContext ctx, MultiSaeTrainer trainer, TrainingLog curves, JsonObject state,
        int layer, Models.HookSite site, CancellationToken ct)
    {
        string dir = Path.Combine(ctx.WorkDirectory, $"checkpoint-{trainer.Step}");
        TrainerCheckpoint.Save(trainer, dir);
        CopyFolder(curves.Folder, Path.Combine(dir, "logs"));
        string sweep = SweepKeys.SweepOf(ctx.Key);
        string prefix = $"{SweepKeys.CheckpointPrefix(sweep, layer, site)}e{ctx.Epoch}-s{trainer.Step:D9}/";
        await UploadFolderAsync(ctx.Blobs, dir, prefix, ct);
        Directory.Delete(dir, true);
        string? previous = (string?)state["checkpoint"];
        state["checkpoint"] = prefix;
        state["checkpoint_step"] = trainer.Step;
        state["step"] = trainer.Step;
        state["tokens"] = trainer.TokensTrained;
        await ctx.CommitAsync(state, ActorStatus.Running, ct);
        if (previous != null && previous != prefix) await ctx.Blobs.DeletePrefixAsync(previous, ct);
    }

    static async Task UploadFolderAsync(IBlobStore blobs, string folder, string prefix, CancellationToken ct)
    {
        foreach (var file in Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(folder, file).Replace('\\', '/');
            await using var f = File.OpenRead(file);
            await blobs.PutAsync(prefix + rel, f, ct);
        }
    }

    static async Task DownloadPrefixAsync(IBlobStore blobs, string prefix, string dir, CancellationToken ct)
    {
        int n = 0;
        await foreach (var b in blobs.ListAsync(prefix, ct))
        {
            string path = Path.Combine(dir, b.Name[prefix.Length..]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await blobs.DownloadToFileAsync(b.Name, path, ct);
            n++;
        }
        if (n == 0) throw new ActorFailedException($"{blobs.Location}/{prefix}: the committed checkpoint is missing from blob storage");
    }

    static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
    }
}
