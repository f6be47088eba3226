namespace SaeCluster.Sae;

/// <summary>A finished SAE: where it was written and how it evaluated.</summary>
/// <param name="LearningRate">The peak learning rate it trained with (the configured one or its default for the data's d_in).</param>
public sealed record SaeResult(SaeConfig Config, string Folder, SaeEvaluation Evaluation, double TokensPerSecond, float LearningRate);
