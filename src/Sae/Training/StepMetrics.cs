namespace SaeCluster.Sae;

/// <summary>What one training step of one SAE measured (per-token means over the batch).</summary>
public readonly record struct StepMetrics(
    double Loss, float ReconstructionLoss, float SparsityLoss, float AuxLoss,
    float L0, float Fvu, float DeadFraction, float LearningRate);
