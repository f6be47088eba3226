namespace SaeCluster.Grains;

/// <summary>
/// A trainer's durable state: its last committed checkpoint (a blob prefix unique to epoch and step,
/// current only once written here), the step and tokens it holds, and at the end the SAEs' final
/// numbers and the staged outputs being published.
/// </summary>
[GenerateSerializer]
public sealed class TrainerState : WorkState
{
    [Id(0)] public long Step { get; set; }
    [Id(1)] public long Tokens { get; set; }
    [Id(2)] public long CheckpointStep { get; set; }
    [Id(3)] public string? Checkpoint { get; set; }
    /// <summary>The outputs of the final evaluation, uploaded under the checkpoints and being copied to <c>saes/</c>.</summary>
    [Id(4)] public string? Staged { get; set; }
    [Id(5)] public List<SaeStatus> Results { get; set; } = [];
    [Id(6)] public double TokensPerSecond { get; set; }
}
