namespace SaeCluster.Sae;

/// <summary>
/// A training run on the local file system (the embedded default): checkpoints under
/// <c>{out}/checkpoint</c>, one finished folder per SAE — <c>{out}</c> itself when the run trains a single
/// SAE, else <c>{out}/{name}</c>. Output folders appear only complete; the checkpoint is removed once every
/// SAE is written.
/// </summary>
public sealed class LocalTrainingRun
{
    public string OutDir { get; }
    public bool SingleSaeFolder { get; }
    public string CheckpointDir => Path.Combine(OutDir, "checkpoint");
    /// <summary>Training curves while the run is in progress; each SAE's ends up as its folder's train_log.jsonl.</summary>
    public string LogDir => Path.Combine(OutDir, "logs");

    public LocalTrainingRun(string outDir, bool singleSaeFolder)
    {
        OutDir = Path.GetFullPath(outDir);
        SingleSaeFolder = singleSaeFolder;
    }

    public string SaeFolder(SaeConfig c) => SingleSaeFolder ? OutDir : Path.Combine(OutDir, c.Name);

    /// <summary>
    /// Checks the output folder before any data is read: an existing run is continued only with
    /// <paramref name="resume"/>, replaced only with <paramref name="overwrite"/>. Returns the checkpoint to resume from.
    /// </summary>
    public string? PrepareOutput(bool resume, bool overwrite)
    {
        if (File.Exists(OutDir)) throw new ConfigException("--out", $"{OutDir} is a file, not a folder");
        string? checkpoint = TrainerCheckpoint.Find(CheckpointDir);
        bool nonEmpty = Directory.Exists(OutDir) && Directory.EnumerateFileSystemEntries(OutDir).Any();
        if (resume && checkpoint != null) return checkpoint;
        if (nonEmpty)
        {
            if (overwrite) return null; // cleared once the data has been validated
            throw new ConfigException("--out", resume
                ? $"{OutDir} holds no checkpoint to resume from (pass --overwrite to replace what is there)"
                : $"{OutDir} already holds {(checkpoint != null ? "an unfinished run; pass --resume to continue it" : "output; pass --overwrite to replace it")}");
        }
        return null;
    }

    /// <summary>Trains, evaluates and writes every SAE. Cancellation saves a checkpoint first, then throws.</summary>
    public IReadOnlyList<SaeResult> Execute(MultiSaeTrainer trainer, string? resumeFrom, bool overwrite,
        Action<TrainingProgress>? progress, Action<string>? log, CancellationToken ct)
    {
        if (resumeFrom != null)
        {
            TrainerCheckpoint.Load(trainer, resumeFrom);
            log?.Invoke($"resuming from step {trainer.Step} ({trainer.TokensTrained:N0} tokens) in {resumeFrom}");
        }
        else
        {
            if (overwrite && Directory.Exists(OutDir)) Directory.Delete(OutDir, true);
            trainer.Initialize();
            log?.Invoke($"normalisation scale {trainer.NormScale:G5}{(trainer.Source.NormScale != null ? " (from the shards' metadata)" : " (estimated)")}");
        }
        Directory.CreateDirectory(OutDir);
        var curves = new TrainingLog(LogDir, trainer.Learners.Select(l => l.Config.Name), resumeFrom != null ? trainer.Step : null);
        try
        {
            trainer.Run(ct, p => { curves.Append(p); progress?.Invoke(p); }, t => TrainerCheckpoint.Save(t, CheckpointDir));
        }
        catch (OperationCanceledException)
        {
            TrainerCheckpoint.Save(trainer, CheckpointDir);
            log?.Invoke($"stopped at step {trainer.Step}; checkpoint saved in {CheckpointDir} (continue with --resume)");
            throw;
        }
        // the final state is checkpointed first so that evaluation or writing can be redone after a crash
        TrainerCheckpoint.Save(trainer, CheckpointDir);
        var evals = trainer.Evaluate(ct);
        double tokensPerSecond = trainer.TokensTrained / Math.Max(1e-9, trainer.TrainSeconds);
        var results = new List<SaeResult>();
        for (int i = 0; i < trainer.Learners.Count; i++)
        {
            var l = trainer.Learners[i];
            string folder = SaeFolder(l.Config);
            if (!SingleSaeFolder) SaeOutputWriter.Write(folder, l, trainer, evals[i], tokensPerSecond, curves.PathFor(l.Config.Name), trainer.Config.Formats);
            results.Add(new SaeResult(l.Config, folder, evals[i], tokensPerSecond, l.LearningRate));
        }
        if (SingleSaeFolder)
            SaeOutputWriter.Write(OutDir, trainer.Learners[0], trainer, evals[0], tokensPerSecond, curves.PathFor(trainer.Learners[0].Config.Name), trainer.Config.Formats); // replaces the folder, checkpoint and logs included
        else
        {
            Directory.Delete(CheckpointDir, true);
            if (Directory.Exists(CheckpointDir + ".old")) Directory.Delete(CheckpointDir + ".old", true);
            Directory.Delete(LogDir, true);
        }
        return results;
    }
}
