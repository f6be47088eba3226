namespace SaeCluster.Grains;

/// <summary>
/// What every producer and trainer keeps in grain storage: its status, the epoch of the activation that
/// last claimed it (bumped by an ETag-checked write when an activation starts the work, so two
/// activations can never both publish), the silo running it or that finished it (null once handed back
/// or cancelled), its phase and why it failed.
/// </summary>
[GenerateSerializer]
public abstract class WorkState
{
    [Id(0)] public WorkStatus Status { get; set; }
    [Id(1)] public long Epoch { get; set; }
    [Id(2)] public string? Silo { get; set; }
    [Id(3)] public string Phase { get; set; } = "queued";
    [Id(4)] public string? Error { get; set; }
    [Id(5)] public DateTimeOffset? Finished { get; set; }
}
