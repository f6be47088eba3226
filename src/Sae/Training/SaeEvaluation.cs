namespace SaeCluster.Sae;

/// <summary>Evaluation of one SAE with its inference rule (per-token means).</summary>
public sealed record SaeEvaluation(double L0, double Fvu, double Mse, double DeadFraction, long Tokens, long[] FiringCounts)
{
    public double ExplainedVariance => 1 - Fvu;
}
