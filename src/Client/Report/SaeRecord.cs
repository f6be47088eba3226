using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>
/// One SAE folder as the report sees it: what its <c>cfg.json</c> says it is, and whatever it has of
/// <c>metrics.json</c>, <c>eval.json</c>, <c>latents.json</c>, <c>train_log.jsonl</c> and <c>sparsity.safetensors</c>.
/// The headline numbers come from eval.json where it has them, else from the training-time metrics.json.
/// </summary>
internal sealed record SaeRecord(
    string RelativePath, string Name, string Family, int Width, int? K, double? SparsityCoefficient, SiteLabel Site, string? Model,
    SaeMetrics? Metrics, SaeEval? Eval, LatentSet? Latents, IReadOnlyList<TrainPoint> TrainLog, FiringDensity? FiringDensity)
{
    /// <summary>The file that marks a folder as an SAE (SAELens layout).</summary>
    public const string CfgFile = "cfg.json";

    /// <summary>How a Pareto plot labels the SAE among those of its architecture and width: k, else its sparsity coefficient λ, else its name.</summary>
    public string PointLabel => K is int k ? $"k={k}"
        : SparsityCoefficient is double c ? $"λ={c.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}"
        : Name;

    /// <summary>L0: mean active latents per token.</summary>
    public double? L0 => Eval?.L0 ?? Metrics?.L0;

    /// <summary>Fraction of variance unexplained.</summary>
    public double? Fvu => Eval?.Fvu ?? Metrics?.Fvu;

    /// <summary>Explained variance.</summary>
    public double? ExplainedVariance => Eval?.ExplainedVariance ?? Metrics?.ExplainedVariance;

    /// <summary>Fraction of latents that never fired.</summary>
    public double? DeadFraction => Eval?.DeadFraction ?? Metrics?.DeadFraction;

    /// <summary>LM loss with the SAE spliced in minus the clean loss.</summary>
    public double? DeltaLoss => Eval?.DeltaLoss ?? Metrics?.DeltaLoss;

    /// <summary>CE loss score: how much of the loss a zero ablation adds the SAE recovers.</summary>
    public double? CeLossScore => Eval?.CeLossScore ?? Metrics?.CeLossScore;

    /// <summary>KL divergence of the next-token distribution with the SAE spliced in.</summary>
    public double? Kl => Eval?.Kl;

    /// <summary>Tokens the SAE was trained on.</summary>
    public long? Tokens => Metrics?.Tokens;

    /// <summary>Whether L0 and FVU come from eval.json rather than the training-time metrics.json.</summary>
    public bool FromEval => Eval?.L0 != null || Eval?.Fvu != null;

    /// <summary>Reads the SAE folder <paramref name="folder"/>; <paramref name="root"/> is the report's folder, for the relative path.</summary>
    public static SaeRecord Load(string folder, string root)
    {
        var cfg = JsonFields.Open(Path.Combine(folder, CfgFile));
        var ours = cfg.Object("saecluster");
        var meta = cfg.Object("metadata");
        string hook = meta?.String("hook_name") ?? "";
        string family = ours?.String("architecture") ?? cfg.RequiredString("architecture");
        int width = cfg.RequiredInt("d_sae");
        if (width <= 0) throw cfg.Problem("d_sae", $"{width} is not a width");

        var eval = Optional(folder, SaeEval.FileName, SaeEval.Read);
        return new SaeRecord(
            RelativePath: Path.GetRelativePath(root, folder),
            Name: ours?.String("name") ?? Path.GetFileName(folder),
            Family: family,
            Width: width,
            K: ours?.Int("k") ?? cfg.Int("k"),
            SparsityCoefficient: ours?.Number("l0_coefficient") ?? ours?.Number("l1_coefficient"),
            Site: SiteLabel.From(ours?.Int("layer"), ours?.String("site"), hook),
            Model: meta?.String("model_name"),
            Metrics: Optional(folder, SaeMetrics.FileName, SaeMetrics.Read),
            Eval: eval,
            Latents: Optional(folder, LatentSet.FileName, LatentSet.Read),
            TrainLog: File.Exists(Path.Combine(folder, TrainPoint.FileName)) ? TrainPoint.ReadLog(Path.Combine(folder, TrainPoint.FileName)) : [],
            FiringDensity: eval?.FiringDensity ?? TrainingDensity(folder, width));
    }

    /// <summary>Whether <paramref name="folder"/> is an SAE folder: <c>cfg.json</c> and at least one of metrics.json / eval.json.</summary>
    public static bool IsSaeFolder(string folder) =>
        File.Exists(Path.Combine(folder, CfgFile))
        && (File.Exists(Path.Combine(folder, SaeMetrics.FileName)) || File.Exists(Path.Combine(folder, SaeEval.FileName)));

    static T? Optional<T>(string folder, string file, Func<JsonFields, T> read) where T : class
    {
        string path = Path.Combine(folder, file);
        return File.Exists(path) ? read(JsonFields.Open(path)) : null;
    }

    /// <summary>The firing densities training measured (SAELens' <c>sparsity.safetensors</c>), where there is no eval.json histogram.</summary>
    static FiringDensity? TrainingDensity(string folder, int width) =>
        SaeLensFormat.ReadSparsity(folder, width) is float[] log10 ? FiringDensity.FromLog10(log10, SaeLensFormat.SparsityFile) : null;
}
