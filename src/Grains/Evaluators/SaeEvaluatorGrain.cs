using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using SaeCluster.Models;
using SaeCluster.Sae;

namespace SaeCluster.Grains;

/// <summary>
/// Evaluates a site's SAEs in the model (<see cref="SpliceEvaluation"/>): downloads each SAE's folder from
/// <c>{sweep}/saes/{layer}.{site}/</c>, runs the model over held-out text — the sweep's <c>model_eval</c> corpus, or
/// the training corpus after every context the producers may use — and uploads each SAE's eval.json, latents.json
/// and its metrics.json with the numbers merged in. It runs where producers do (the model is there) and takes a
/// producer slot. The numbers depend only on the SAEs and the text, so an activation that repeats the work (after
/// its silo was lost) writes the same files again.
/// </summary>
[RolePlacement(SiloRoles.Producer)]
[Orleans.Placement.RandomPlacement]
public sealed class SaeEvaluatorGrain(
    [PersistentState("evaluator", StorageNames.Default)] IPersistentState<EvaluatorState> stored,
    DeepCopier<EvaluatorState> copier, SiloWork silo, IBlobStore blobs, ILogger<SaeEvaluatorGrain> log)
    : WorkGrain<EvaluatorState, EvaluatorReport>(stored, copier, silo, blobs, log), ISaeEvaluatorGrain
{
    static readonly string[] Files = ["cfg.json", "sae_weights.safetensors", "sparsity.safetensors", "metrics.json"];
    long _tokens; // evaluated so far, from the work's thread

    string Site => SweepKeys.SiteOfEvaluator(Key);

    protected override string Kind => SiloRoles.Producer;

    protected override EvaluatorReport BuildReport()
    {
        var s = State;
        return new EvaluatorReport(Site, s.Status, s.Epoch, s.Silo, s.Phase, Interlocked.Read(ref _tokens), s.Error, s.Results);
    }

    protected override Task PublishAsync(EvaluatorReport report) => Grains.Sweep(Sweep).ReportEvaluatorAsync(report);

    protected override async Task RunAsync(CancellationToken ct)
    {
        var spec = SweepSpecCache.Get(Sweep, await Grains.Sweep(Sweep).GetSpecAsync(ct) ?? throw new WorkFailedException($"sweep '{Sweep}' no longer exists"));
        await CommitAsync(s => s.Phase = "evaluating");
        string dir = Path.Combine(WorkDirectory, "saes");
        var saes = new List<LoadedSae>();
        foreach (var c in spec.Training.Saes)
        {
            string prefix = SweepKeys.SaePrefix(Sweep, Site, c.Name), local = Path.Combine(dir, c.Name);
            Directory.CreateDirectory(local);
            foreach (var f in Files)
            {
                try { await Blobs.DownloadToFileAsync(prefix + f, Path.Combine(local, f), ct); }
                catch (BlobNotFoundException) when (f == "sparsity.safetensors") { }
                catch (BlobNotFoundException) { throw new WorkFailedException($"{Blobs.Location}/{prefix}{f}: the trained SAE's file is missing"); }
            }
            saes.Add(WorkInput.Load(() => SaeCluster.Sae.SaeFiles.Read(local, SaeFormat.SaeLens), local));
        }

        bool ownCorpus = spec.ModelEvalPaths.Count > 0;
        var corpus = CorpusDocuments.FromPatterns(ownCorpus ? spec.ModelEvalPaths : spec.CorpusPaths, spec.ModelEvalTextField);
        var options = new EvalOptions { Tokens = spec.ModelEvalTokens, Seed = spec.Training.Seed };
        IReadOnlyList<SaeEvalResult> results;
        void Progress(SpliceEvaluation.Progress p) => Interlocked.Exchange(ref _tokens, p.Tokens);
        try
        {
            results = WorkInput.Load(() => ModelEvaluation.Run(spec.ModelDir, saes, corpus, options, spec.Context, skipContexts: ownCorpus ? 0 : spec.TrainingContexts,
                bf16: spec.ModelPrecision.RunsBf16(), progress: Progress, ct: ct), spec.ModelDir);
        }
        catch (WorkFailedException e) when (!ownCorpus && e.InnerException is DataException)
        {
            // the corpus holds nothing past what training may have used: evaluate on it from the start, and say so
            Log.LogWarning("{Key}: the corpus has no text past the training contexts; evaluating on its start (set model_eval.paths for held-out text)", Key);
            results = WorkInput.Load(() => ModelEvaluation.Run(spec.ModelDir, saes, corpus, options, spec.Context, bf16: spec.ModelPrecision.RunsBf16(),
                progress: Progress, ct: ct), spec.ModelDir);
            foreach (var r in results) { r.Eval["held_out"] = false; r.Write(); }
        }
        ReleaseSlot();
        foreach (var r in results)
            foreach (var f in new[] { "eval.json", "latents.json", "metrics.json" })
                await using (var content = File.OpenRead(Path.Combine(r.Sae.Folder, f)))
                    await Blobs.PutAsync(SweepKeys.SaePrefix(Sweep, Site, r.Sae.Name) + f, content, ct);
        var numbers = results.Select(r => new SaeModelEval(r.Sae.Name, Math.Round(r.L0, 3), Math.Round(r.Fvu, 5), Math.Round(r.DeltaLoss, 5),
            Math.Round(r.CeLossScore, 5), Math.Round(r.Kl, 5), Math.Round(r.CeClean, 5), Math.Round(r.CeZero, 5))).ToList();
        await CommitAsync(s =>
        {
            s.Results = numbers;
            s.Status = WorkStatus.Done;
            s.Phase = "done";
            s.Finished = DateTimeOffset.UtcNow;
        });
        var (layer, site) = SweepKeys.SiteOf(SweepKeys.Trainer(Sweep, Site));
        SaeClusterMetrics.Evaluations.Remove(SaeClusterMetrics.Evaluations.Add(new EvaluationTelemetry(Sweep, layer, site.Name(), numbers)), SaeClusterMetrics.Linger);
        Log.LogInformation("{Key}: evaluated {Saes} SAE(s) in the model on {Tokens:N0} tokens", Key, results.Count, _tokens);
    }

}
