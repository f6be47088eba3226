namespace SaeCluster.Sae;

/// <summary>A progress report: where the run is and what each SAE measured at its latest step.</summary>
public sealed record TrainingProgress(long Step, long TotalSteps, long Tokens, double TokensPerSecond,
    IReadOnlyList<(string Name, StepMetrics Metrics)> Saes);
