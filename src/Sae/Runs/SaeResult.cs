namespace SaeCluster.Sae;

/// <summary>A finished SAE: where it was written and how it evaluated.</summary>
public sealed record SaeResult(SaeConfig Config, string Folder, SaeEvaluation Evaluation, double TokensPerSecond);
