using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using SaeCluster.Models;
using SaeCluster.Sae;

namespace SaeCluster.Grains;

/// <summary>
/// Trains every SAE of a sweep on one site (layer × kind) in one pass over its activations, streaming
/// shards as producers commit them. Checkpoints go to blob storage under a name unique to (epoch, step)
/// and become current only through the ETag-checked state write; a new activation resumes from the last
/// committed one. At the end each SAE is evaluated on held-out tokens; the outputs are staged under the
/// checkpoints, recorded in the state, then copied to <c>{sweep}/saes/{layer}.{site}/{name}/</c> — so a
/// stale or cancelled activation can upload, but never make a checkpoint or an SAE output current.
/// </summary>
[RolePlacement(SiloRoles.Trainer)]
[Orleans.Placement.RandomPlacement] // a sweep starts its work in a burst: spread it over the silos with the role (Orleans' default keeps a burst on the silo that makes it)
public sealed class SaeTrainerGrain(
    [PersistentState("trainer", StorageNames.Default)] IPersistentState<TrainerState> stored,
    DeepCopier<TrainerState> copier, SiloWork silo, IBlobStore blobs, ILogger<SaeTrainerGrain> log)
    : WorkGrain<TrainerState, TrainerReport>(stored, copier, silo, blobs, log), ISaeTrainerGrain
{
    volatile Progress? _progress; // the latest step's numbers, from the training thread

    sealed record Progress(string Phase, long Step, long Tokens, double TokensPerSecond, string? Message, IReadOnlyList<SaeStatus> Saes);

    string Site => Key[(Key.IndexOf('/') + 1)..];

    protected override string Kind => SiloRoles.Trainer;

    protected override TrainerReport BuildReport()
    {
        var s = State;
        var p = s.Status == WorkStatus.Running && !Fenced ? _progress : null;
        var saes = s.Status == WorkStatus.Done ? s.Results : p?.Saes ?? (s.Results.Count > 0 ? s.Results : []);
        string phase = s.Status == WorkStatus.Running ? p?.Phase ?? s.Phase : s.Phase;
        return new TrainerReport(Site, s.Status, s.Epoch, s.Silo, phase, Math.Max(s.Step, p?.Step ?? 0), Math.Max(s.Tokens, p?.Tokens ?? 0),
            p?.TokensPerSecond ?? s.TokensPerSecond, s.CheckpointStep, s.Checkpoint, p?.Message, s.Error, saes);
    }

    protected override Task PublishAsync(TrainerReport report) => Grains.Sweep(Sweep).ReportTrainerAsync(report);

    protected override async Task RunAsync(CancellationToken ct)
    {
        var sweep = Grains.Sweep(Sweep);
        var spec = SweepSpecCache.Get(Sweep, await sweep.GetSpecAsync(ct) ?? throw new WorkFailedException($"sweep '{Sweep}' no longer exists"));
        var (layer, site) = SweepKeys.SiteOf(Key);
        if (State.Staged != null)
        {
            await PublishOutputsAsync(spec, null, ct); // evaluated and staged by an earlier activation: finish publishing
            return;
        }
        // /metrics shows this trainer while it runs, and its final numbers a while after it ends (done or failed)
        var telemetry = SaeClusterMetrics.Trainers.Add(new TrainerTelemetry(Sweep, layer, site.Name()));
        try { await TrainAsync(sweep, spec, layer, site, telemetry, ct); }
        catch (TrainingDivergedException e)
        {
            telemetry.Phase = "failed";
            foreach (var s in telemetry.Saes) if (s.Name == e.Sae) s.Loss = e.Loss; // the NaN-loss alert sees it
            throw new WorkFailedException(e.Message, e);
        }
        catch (WorkFailedException) { telemetry.Phase = "failed"; throw; }
        finally { SaeClusterMetrics.Trainers.Remove(telemetry, telemetry.Phase is "done" or "failed" ? SaeClusterMetrics.Linger : TimeSpan.Zero); }
    }

    async Task TrainAsync(ISweepGrain sweep, SweepSpec spec, int layer, HookSite site, TrainerTelemetry telemetry, CancellationToken ct)
    {
        var config = spec.Training;
        int d = site.Width(spec.Model);
        SetPhase("starting");
        var source = new StreamingShardSource(d, Blobs, c => sweep.GetCatalogAsync(Site, c), config.Seed, spec.ShuffleShards,
            Path.Combine(WorkDirectory, "shards"), ct, waiting: message =>
            {
                telemetry.Phase = "waiting";
                SetPhase("waiting", message);
            });
        using var trainer = new MultiSaeTrainer(config, source);
        if (config.UsesAutoPrecision) Compute.Bf16Choice.ReportOnce(line => Log.LogInformation("{Precision}", line));
        string logDir = Path.Combine(WorkDirectory, "logs");
        string? checkpoint = State.Checkpoint;
        if (checkpoint != null)
        {
            string dir = Path.Combine(WorkDirectory, "resume");
            if (await Blobs.DownloadPrefixAsync(checkpoint, dir, ct) == 0)
                throw new WorkFailedException($"{Blobs.Location}/{checkpoint}: the committed checkpoint is missing from blob storage");
            TrainerCheckpoint.Load(trainer, dir);
            if (Directory.Exists(Path.Combine(dir, "logs"))) CopyFolder(Path.Combine(dir, "logs"), logDir);
            Directory.Delete(dir, true);
            Log.LogInformation("{Key}: resumed from {Checkpoint} at step {Step}", Key, checkpoint, trainer.Step);
        }
        else trainer.Initialize();
        var curves = new TrainingLog(logDir, trainer.Learners.Select(l => l.Config.Name), checkpoint != null ? trainer.Step : null);
        telemetry.Saes = [.. trainer.Learners.Select(l => new SaeTelemetry(l.Config.Name))];
        telemetry.Step = trainer.Step;
        telemetry.Tokens = trainer.TokensTrained;
        telemetry.Phase = "training";
        _progress = new Progress("training", trainer.Step, trainer.TokensTrained, 0, null, _progress?.Saes ?? []);

        try
        {
            trainer.Run(ct, p =>
            {
                curves.Append(p);
                telemetry.Phase = "training";
                Report(telemetry, p);
                _progress = new Progress("training", p.Step, p.Tokens, Math.Round(p.TokensPerSecond, 1), null,
                    [.. p.Saes.Select(s => new SaeStatus(s.Name, Math.Round(s.Metrics.L0, 3), Math.Round(s.Metrics.Fvu, 5), Math.Round(s.Metrics.DeadFraction, 4),
                        Math.Round(s.Metrics.Loss, 5), null))]);
            }, t => SaveCheckpointAsync(t, curves, layer, site, CancellationToken.None).GetAwaiter().GetResult());
        }
        catch (Exception e) when (ct.IsCancellationRequested && (e is OperationCanceledException || TransientErrors.Is(e)))
        {
            // the activation deactivates (silo shutdown, drain; a shard or catalog call it cut short): save where we are
            // (the last whole step) so the next one loses nothing
            if (Deactivating)
            {
                if (trainer.Step > State.CheckpointStep) await SaveCheckpointAsync(trainer, curves, layer, site, CancellationToken.None);
                Log.LogInformation("{Key}: handed back at step {Step}", Key, State.CheckpointStep);
            }
            throw;
        }

        // the final weights are checkpointed first, so evaluation and publishing can be redone after a crash
        if (trainer.Step > State.CheckpointStep) await SaveCheckpointAsync(trainer, curves, layer, site, ct);
        telemetry.Phase = "evaluating";
        SetPhase("evaluating");
        var evals = trainer.Evaluate(ct);

        telemetry.Phase = "writing";
        SetPhase("writing");
        double tokensPerSecond = trainer.TokensTrained / Math.Max(1e-9, trainer.TrainSeconds);
        string outDir = Path.Combine(WorkDirectory, "out");
        var results = new List<SaeStatus>();
        for (int i = 0; i < trainer.Learners.Count; i++)
        {
            var l = trainer.Learners[i];
            SaeOutputWriter.Write(Path.Combine(outDir, l.Config.Name), l, trainer, evals[i], tokensPerSecond, curves.PathFor(l.Config.Name), config.Formats);
            results.Add(new SaeStatus(l.Config.Name, Math.Round(evals[i].L0, 3), Math.Round(evals[i].Fvu, 5), Math.Round(evals[i].DeadFraction, 4), null,
                SweepKeys.SaePrefix(Sweep, Site, l.Config.Name), evals[i].Mse));
        }
        // staged under this epoch's name, current once recorded; then copied to saes/ by whoever holds the state
        string staged = $"{SweepKeys.CheckpointPrefix(Sweep, Site)}e{Epoch}-out/";
        await Blobs.UploadFolderAsync(outDir, staged, ct);
        trainer.Dispose(); // the SAEs and the batch buffers: what is left is copying files and committing
        ReleaseSlot();
        await CommitAsync(s =>
        {
            s.Staged = staged;
            s.Results = results;
            s.Phase = "writing";
            s.TokensPerSecond = Math.Round(tokensPerSecond, 1);
        });
        await PublishOutputsAsync(spec, outDir, ct);
        telemetry.Phase = "done";
        Log.LogInformation("{Key}: done: {Saes} SAE(s), {Tokens:N0} tokens at {Rate:N0} tok/s (epoch {Epoch})", Key, trainer.Learners.Count, trainer.TokensTrained, tokensPerSecond, Epoch);
    }

    // Copies the staged outputs (from the local folder when this activation made them, else from the blob store) to saes/, then ends Done.
    async Task PublishOutputsAsync(SweepSpec spec, string? localOut, CancellationToken ct)
    {
        string staged = State.Staged!;
        if (localOut == null)
        {
            localOut = Path.Combine(WorkDirectory, "staged");
            await Blobs.DownloadPrefixAsync(staged, localOut, ct);
        }
        foreach (var sae in State.Results)
            await Blobs.UploadFolderAsync(Path.Combine(localOut, sae.Name), sae.Output!, ct);
        await CommitAsync(s =>
        {
            s.Status = WorkStatus.Done;
            s.Phase = "done";
            s.Finished = DateTimeOffset.UtcNow;
        });
        await Blobs.DeletePrefixAsync(SweepKeys.CheckpointPrefix(Sweep, Site), ct);
        if (!spec.KeepShards) await Blobs.DeletePrefixAsync(SweepKeys.ShardPrefix(Sweep, Site), ct);
    }

    void SetPhase(string phase, string? message = null)
    {
        var p = _progress;
        _progress = new Progress(phase, p?.Step ?? State.Step, p?.Tokens ?? State.Tokens, p?.TokensPerSecond ?? 0, message, p?.Saes ?? []);
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

    // Uploads the checkpoint under a name unique to this epoch and step, then makes it current by an ETag-checked write.
    async Task SaveCheckpointAsync(MultiSaeTrainer trainer, TrainingLog curves, int layer, HookSite site, CancellationToken ct)
    {
        string dir = Path.Combine(WorkDirectory, $"checkpoint-{trainer.Step}");
        TrainerCheckpoint.Save(trainer, dir);
        CopyFolder(curves.Folder, Path.Combine(dir, "logs"));
        string prefix = $"{SweepKeys.CheckpointPrefix(Sweep, Site)}e{Epoch}-s{trainer.Step:D9}/";
        await Blobs.UploadFolderAsync(dir, prefix, ct);
        Directory.Delete(dir, true);
        string? previous = State.Checkpoint;
        long step = trainer.Step, tokens = trainer.TokensTrained;
        try
        {
            await CommitAsync(s =>
            {
                s.Checkpoint = prefix;
                s.CheckpointStep = step;
                s.Step = step;
                s.Tokens = tokens;
            });
        }
        catch (WorkFencedException)
        {
            // superseded: this checkpoint will never be current
            try
            {
                await Blobs.DeletePrefixAsync(prefix, CancellationToken.None);
                Log.LogInformation("{Key}: superseded: deleted its uncommitted checkpoint {Prefix}", Key, prefix);
            }
            catch (Exception e) when (TransientErrors.Is(e)) { }
            throw;
        }
        if (previous != null && previous != prefix) await Blobs.DeletePrefixAsync(previous, ct);
    }

    static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
    }
}
