namespace SaeCluster.Sae;

/// <summary>Which precision the dense encoder GEMM runs in (master weights are always float32).</summary>
public enum EncoderPrecision { Auto, Float32, BFloat16 }

/// <summary>
/// One training run: where the activations come from, how many tokens, and the SAEs trained together
/// over the same stream of batches. Immutable and validated at construction.
/// </summary>
public sealed record TrainingConfig
{
    public IReadOnlyList<SaeConfig> Saes { get; }
    public long Tokens { get; }
    public int BatchSize { get; }
    public ulong Seed { get; }
    /// <summary>Rows shuffled together (a block of the data stream permuted in memory-free index space).</summary>
    public int ShuffleBlock { get; }
    public int LogEvery { get; }
    /// <summary>Steps between checkpoints (0 = only at the end).</summary>
    public int CheckpointEvery { get; }
    /// <summary>Scale inputs to unit mean squared norm (folded back into the weights on save).</summary>
    public bool Normalize { get; }
    /// <summary>A latent is dead after this many tokens without firing (AuxK and dead_fraction).</summary>
    public long DeadTokens { get; }
    public EncoderPrecision Precision { get; }
    /// <summary>Tokens the final evaluation runs over.</summary>
    public long EvalTokens { get; }
    /// <summary>The file formats every SAE is written in: SAELens always, the others where the SAE's architecture has a form in them.</summary>
    public IReadOnlyList<SaeFormat> Formats { get; }

    public long TotalSteps => Tokens / BatchSize;

    /// <summary>Tokens the run trains on: whole batches (≤ <see cref="Tokens"/>).</summary>
    public long TrainedTokens => TotalSteps * BatchSize;

    /// <summary>True when the machine's <see cref="Compute.Bf16Choice"/> decides some SAE's GEMMs: auto precision and an SAE that allows bf16.</summary>
    public bool UsesAutoPrecision => Precision == EncoderPrecision.Auto && Saes.Any(s => s.AutoAllowsBf16);

    public TrainingConfig(IReadOnlyList<SaeConfig> saes, long tokens, int batchSize = 4096, ulong seed = 0,
        int shuffleBlock = 1 << 18, int logEvery = 50, int checkpointEvery = 500, bool normalize = true,
        long deadTokens = 10_000_000, EncoderPrecision precision = EncoderPrecision.Auto, long evalTokens = 262_144,
        IReadOnlyList<SaeFormat>? formats = null)
    {
        if (saes.Count == 0) throw new ConfigException("saes", "at least one SAE is needed");
        var dup = saes.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ConfigException("saes", $"two SAEs are named '{dup.Key}' (names are output folders; set name:)");
        Saes = saes.ToArray();
        if (batchSize < 1) throw new ConfigException("batch", $"must be ≥ 1 (got {batchSize})");
        BatchSize = batchSize;
        if (tokens < batchSize) throw new ConfigException("tokens", $"must be at least one batch ({batchSize}) (got {tokens})");
        Tokens = tokens;
        Seed = seed;
        if (shuffleBlock < 1) throw new ConfigException("shuffle_block", $"must be ≥ 1 (got {shuffleBlock})");
        ShuffleBlock = shuffleBlock;
        if (logEvery < 1) throw new ConfigException("log_every", $"must be ≥ 1 (got {logEvery})");
        LogEvery = logEvery;
        if (checkpointEvery < 0) throw new ConfigException("checkpoint_every", $"must be ≥ 0 (got {checkpointEvery})");
        CheckpointEvery = checkpointEvery;
        Normalize = normalize;
        if (deadTokens < 1) throw new ConfigException("dead_tokens", $"must be ≥ 1 (got {deadTokens})");
        DeadTokens = deadTokens;
        Precision = precision;
        if (evalTokens < 0) throw new ConfigException("eval_tokens", $"must be ≥ 0 (got {evalTokens})");
        EvalTokens = evalTokens;
        Formats = [SaeFormat.SaeLens, .. (formats ?? []).Where(f => f != SaeFormat.SaeLens).Distinct()];
        foreach (var f in Formats)
            if (!Saes.Any(s => SaeFiles.CannotWrite(s.Architecture, f) == null))
                throw new ConfigException("formats", $"{f.ToName()} fits none of the SAEs: {SaeFiles.CannotWrite(Saes[0].Architecture, f)}");
    }

    /// <summary>The same run, written in <paramref name="formats"/> (checked against its SAEs).</summary>
    public TrainingConfig WithFormats(IReadOnlyList<SaeFormat> formats) =>
        new(Saes, Tokens, BatchSize, Seed, ShuffleBlock, LogEvery, CheckpointEvery, Normalize, DeadTokens, Precision, EvalTokens, formats);
}
