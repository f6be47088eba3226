namespace SaeCluster.Sae;

/// <summary>
/// One SAE to train: architecture, width, sparsity and optimiser settings. Immutable and validated at
/// construction, so a bad configuration fails before any data is read. Defaults follow each family's
/// published recipe (../shared/reference/sae-training.md).
/// </summary>
public sealed record SaeConfig
{
    public string Name { get; }
    public SaeArchitecture Architecture { get; }
    public int Width { get; }
    /// <summary>Active latents per token (TopK, BatchTopK).</summary>
    public int K { get; }
    /// <summary>L1 coefficient λ (ReLU).</summary>
    public float L1Coefficient { get; }
    /// <summary>L0 coefficient λ (JumpReLU).</summary>
    public float L0Coefficient { get; }
    /// <summary>The learning rate as configured; null = the family's default rule (<see cref="LearningRateFor"/>).</summary>
    public float? LearningRate { get; }
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }
    /// <summary>Linear lr warm-up from 0.1·lr over this many steps.</summary>
    public int WarmupSteps { get; }
    /// <summary>Linear lr decay to zero over this final fraction of training.</summary>
    public float DecayFraction { get; }
    /// <summary>Sparsity coefficient warm-up (0 → λ) in steps; &lt; 0 means "the family default".</summary>
    public int SparsityWarmupSteps { get; }
    /// <summary>AuxK coefficient (TopK, BatchTopK).</summary>
    public float AuxKCoefficient { get; }
    /// <summary>Dead latents used by AuxK per token; 0 → d_in / 2.</summary>
    public int AuxK { get; }
    /// <summary>JumpReLU: initial threshold and STE bandwidth (for unit-norm inputs).</summary>
    public float ThresholdInit { get; }
    public float Bandwidth { get; }
    /// <summary>BatchTopK: EMA decay and first step of the inference-threshold estimate.</summary>
    public float ThresholdBeta { get; }
    public int ThresholdStartStep { get; }

    public SaeConfig(
        SaeArchitecture architecture, int width, int k = 0, float l1 = 0, float l0Coefficient = 0,
        float? lr = null, float? beta1 = null, float beta2 = 0.999f, float? epsilon = null,
        int warmupSteps = 1000, float decayFraction = 0.2f, int sparsityWarmupSteps = -1,
        float auxKCoefficient = 1f / 32, int auxK = 0, float thresholdInit = 0.001f, float bandwidth = 0.001f,
        float thresholdBeta = 0.999f, int thresholdStartStep = 1000, string? name = null, string field = "sae")
    {
        Architecture = architecture;
        if (width < 1) throw new ConfigException(F(field, "width"), $"must be ≥ 1 (got {width})");
        Width = width;
        bool usesK = architecture is SaeArchitecture.TopK or SaeArchitecture.BatchTopK;
        if (usesK)
        {
            if (k < 1) throw new ConfigException(F(field, "k"), $"{architecture.ToName()} needs k ≥ 1 (got {k})");
            if (k > width) throw new ConfigException(F(field, "k"), $"k = {k} is larger than the width {width}");
        }
        else if (k != 0) throw new ConfigException(F(field, "k"), $"k applies to topk and batchtopk, not {architecture.ToName()}");
        K = k;
        if (architecture == SaeArchitecture.Relu && !(l1 > 0)) throw new ConfigException(F(field, "l1"), $"relu needs an L1 coefficient > 0 (got {l1})");
        if (architecture != SaeArchitecture.Relu && l1 != 0) throw new ConfigException(F(field, "l1"), $"l1 applies to relu, not {architecture.ToName()}");
        L1Coefficient = l1;
        if (architecture == SaeArchitecture.JumpRelu && !(l0Coefficient > 0)) throw new ConfigException(F(field, "l0_coeff"), $"jumprelu needs an L0 coefficient > 0 (got {l0Coefficient})");
        if (architecture != SaeArchitecture.JumpRelu && l0Coefficient != 0) throw new ConfigException(F(field, "l0_coeff"), $"l0_coeff applies to jumprelu, not {architecture.ToName()}");
        L0Coefficient = l0Coefficient;

        if (lr is float given && (!(given > 0) || float.IsInfinity(given))) throw new ConfigException(F(field, "lr"), $"must be a positive number (got {given})");
        LearningRate = lr;
        Beta1 = beta1 ?? (architecture == SaeArchitecture.JumpRelu ? 0f : 0.9f);
        if (Beta1 is < 0 or >= 1) throw new ConfigException(F(field, "beta1"), $"must be in [0, 1) (got {Beta1})");
        if (beta2 is <= 0 or >= 1) throw new ConfigException(F(field, "beta2"), $"must be in (0, 1) (got {beta2})");
        Beta2 = beta2;
        Epsilon = epsilon ?? (usesK ? 6.25e-10f : 1e-8f);
        if (!(Epsilon > 0)) throw new ConfigException(F(field, "eps"), $"must be > 0 (got {Epsilon})");
        if (warmupSteps < 0) throw new ConfigException(F(field, "warmup_steps"), $"must be ≥ 0 (got {warmupSteps})");
        WarmupSteps = warmupSteps;
        if (decayFraction is < 0 or > 1) throw new ConfigException(F(field, "decay_fraction"), $"must be in [0, 1] (got {decayFraction})");
        DecayFraction = decayFraction;
        SparsityWarmupSteps = sparsityWarmupSteps;
        if (auxKCoefficient < 0) throw new ConfigException(F(field, "auxk_alpha"), $"must be ≥ 0 (got {auxKCoefficient})");
        AuxKCoefficient = auxKCoefficient;
        if (auxK < 0) throw new ConfigException(F(field, "auxk"), $"must be ≥ 0 (got {auxK})");
        AuxK = auxK;
        if (!(thresholdInit > 0)) throw new ConfigException(F(field, "threshold_init"), $"must be > 0 (got {thresholdInit})");
        ThresholdInit = thresholdInit;
        if (!(bandwidth > 0)) throw new ConfigException(F(field, "bandwidth"), $"must be > 0 (got {bandwidth})");
        Bandwidth = bandwidth;
        if (thresholdBeta is < 0 or >= 1) throw new ConfigException(F(field, "threshold_beta"), $"must be in [0, 1) (got {thresholdBeta})");
        ThresholdBeta = thresholdBeta;
        ThresholdStartStep = Math.Max(0, thresholdStartStep);
        Name = name ?? DefaultName();
        if (Name.Length == 0 || Name.IndexOfAny(['/', '\\', ':', '*', '?', '"', '<', '>', '|']) >= 0 || Name is "." or ".." || Name.StartsWith('.'))
            throw new ConfigException(F(field, "name"), $"'{Name}' is not usable as a folder name");
    }

    // "saes[2].l0_coeff" in a YAML, "--l0-coeff" on the command line
    static string F(string field, string key) => field == "--" ? "--" + key.Replace('_', '-') : $"{field}.{key}";

    string DefaultName()
    {
        string w = Width % 1024 == 0 ? $"{Width / 1024}k" : Width.ToString();
        return Architecture switch
        {
            SaeArchitecture.TopK or SaeArchitecture.BatchTopK => $"{Architecture.ToName()}-w{w}-k{K}",
            SaeArchitecture.Relu => $"relu-w{w}-l1_{L1Coefficient:g3}",
            _ => $"jumprelu-w{w}-l0_{L0Coefficient:g3}",
        };
    }

    /// <summary>Sparsity-coefficient warm-up in steps for a run of <paramref name="totalSteps"/>.</summary>
    public int EffectiveSparsityWarmup(long totalSteps) => SparsityWarmupSteps >= 0 ? SparsityWarmupSteps : Architecture switch
    {
        SaeArchitecture.JumpRelu => (int)Math.Min(10_000, totalSteps / 10),
        SaeArchitecture.Relu => (int)(totalSteps / 20),
        _ => 0,
    };

    /// <summary>
    /// The peak learning rate for inputs of <paramref name="dIn"/> dimensions: the configured one, else the
    /// family's default. TopK: 2e-4 · √(2¹⁴ / width) · √(2304 / d_in) — dictionary_learning's and sparsify's
    /// width rule (Gao et al. 2024: the best lr falls as 1/√width), times 1/√d_in because inputs are scaled to
    /// unit mean squared norm, so each coordinate, and each Adam step's share of a unit decoder row, is
    /// ~1/√d_in; anchored at Gemma 2 2B (d_in 2304), where it is exactly the peers' rule. BatchTopK: twice that
    /// — with one budget for the whole batch, features are found more slowly and its best lr on ground-truth
    /// data is ~2× TopK's, ours and dictionary_learning's alike (bench/README.md). JumpReLU: 7e-5 (Gemma
    /// Scope). ReLU + L1: 5e-5 (Anthropic's April 2024 update).
    /// </summary>
    public float LearningRateFor(int dIn) => LearningRate ?? DefaultLearningRate(Architecture, Width, dIn);

    /// <summary>The family's default peak learning rate (see <see cref="LearningRateFor"/>).</summary>
    public static float DefaultLearningRate(SaeArchitecture architecture, int width, int dIn) => architecture switch
    {
        SaeArchitecture.JumpRelu => 7e-5f,
        SaeArchitecture.Relu => 5e-5f,
        SaeArchitecture.BatchTopK => 2 * TopKLearningRate(width, dIn),
        _ => TopKLearningRate(width, dIn),
    };

    static float TopKLearningRate(int width, int dIn) => (float)(2e-4 * Math.Sqrt(16384.0 / width) * Math.Sqrt(2304.0 / Math.Max(1, dIn)));

    /// <summary>How the default is written in help texts.</summary>
    public const string DefaultLearningRateHelp =
        "topk 2e-4·√(16384/width)·√(2304/d_in), batchtopk twice that, jumprelu 7e-5, relu 5e-5";

    public int EffectiveAuxK(int dIn) => Math.Min(Width, AuxK > 0 ? AuxK : Math.Max(1, dIn / 2));

    public bool KeepsUnitNormDecoder => Architecture != SaeArchitecture.Relu;

    /// <summary>
    /// Whether auto precision may run this SAE's GEMMs in bf16 (where <see cref="Compute.Bf16Choice"/> prefers it):
    /// all but JumpReLU, whose threshold gradient needs z to well below the STE bandwidth (bf16 rounds z by ~0.4%).
    /// </summary>
    public bool AutoAllowsBf16 => Architecture != SaeArchitecture.JumpRelu;
}
