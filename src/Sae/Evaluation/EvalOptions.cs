namespace SaeCluster.Sae;

/// <summary>
/// How <see cref="SpliceEvaluation"/> runs: how many tokens of held-out text, in contexts of what length, how many
/// contexts per forward pass, whether BOS/EOS/pad positions count, and what the latent browser keeps.
/// </summary>
public sealed record EvalOptions
{
    /// <summary>Tokens to evaluate on (whole contexts; the first that reach it).</summary>
    public long Tokens { get; init; } = 32_768;
    /// <summary>Contexts per forward pass.</summary>
    public int BatchContexts { get; init; } = 8;
    /// <summary>
    /// False (the default, as Gemma Scope evaluates): BOS, EOS and pad positions keep their clean activation and are
    /// left out of every average. True: spliced and counted like any token, as SAELens' training-time evaluator does.
    /// </summary>
    public bool IncludeSpecial { get; init; }
    /// <summary>Latent browser: how many latents drawn at random, plus as many of the densest and of the rarest that fired.</summary>
    public int SampleLatents { get; init; } = 24;
    public int ExtremeLatents { get; init; } = 8;
    /// <summary>Top-activating examples kept per latent, and the tokens of context each shows (ending a few after the peak).</summary>
    public int ExamplesPerLatent { get; init; } = 8;
    public int Window { get; init; } = 24;
    public ulong Seed { get; init; }

    public EvalOptions Validate()
    {
        if (Tokens < 1) throw new ConfigException("--tokens", $"must be ≥ 1 (got {Tokens})");
        if (BatchContexts < 1) throw new ConfigException("--batch", $"must be ≥ 1 (got {BatchContexts})");
        if (SampleLatents < 0 || ExtremeLatents < 0 || ExamplesPerLatent < 1 || Window < 2) throw new ConfigException("eval", "latent browser settings out of range");
        return this;
    }
}
