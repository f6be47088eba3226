using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>
/// An SAE's <c>metrics.json</c>: training-time evaluation numbers (L0, FVU, explained variance, dead fraction,
/// trained tokens), plus delta LM loss and CE loss score once an evaluation added them.
/// </summary>
internal sealed record SaeMetrics(double? L0, double? Fvu, double? ExplainedVariance, double? DeadFraction, long? Tokens,
    double? DeltaLoss, double? CeLossScore)
{
    /// <summary>File name inside an SAE folder.</summary>
    public const string FileName = "metrics.json";

    /// <summary>Reads the fields the report uses; each one may be absent.</summary>
    public static SaeMetrics Read(JsonFields f) => new(
        f.Number("l0"), f.Number("fvu"), f.Number("explained_variance"), f.Number("dead_fraction"), f.Long("tokens"),
        f.Number("delta_loss"), f.Number("ce_loss_score"));
}
