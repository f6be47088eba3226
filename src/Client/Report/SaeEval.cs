using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>
/// An SAE's <c>eval.json</c> (written by <c>saectl eval</c>): reconstruction and sparsity on held-out tokens,
/// the firing-density histogram, the LM-loss numbers with the SAE spliced in, and FVU / delta loss by position.
/// </summary>
internal sealed record SaeEval(
    long? Tokens, bool? IncludeSpecial, long? SpecialPositionsSkipped,
    double? L0, double? Fvu, double? ExplainedVariance, double? DeadFraction,
    FiringDensity? FiringDensity, double? DeltaLoss, double? CeLossScore, double? Kl,
    IReadOnlyList<PositionBucket> ByPosition)
{
    /// <summary>File name inside an SAE folder.</summary>
    public const string FileName = "eval.json";

    /// <summary>Reads the fields the report uses; each one may be absent, but what is there must have its type.</summary>
    public static SaeEval Read(JsonFields f) => new(
        f.Long("tokens"), f.Bool("include_special"), f.Long("special_positions_skipped"),
        f.Number("l0"), f.Number("fvu"), f.Number("explained_variance"), f.Number("dead_fraction"),
        f.Object("firing_density_histogram") is JsonFields h ? FiringDensity.Read(h) : null,
        f.Number("delta_loss"), f.Number("ce_loss_score"), f.Number("kl"),
        f.Objects("by_position")?.Select(PositionBucket.Read).OrderBy(b => b.From).ToArray() ?? []);
}
