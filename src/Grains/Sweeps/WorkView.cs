namespace SaeCluster.Grains;

/// <summary>One unit of a sweep as /api/sweeps/{id}/actors lists it: the sweep itself, a producer or a trainer.</summary>
[GenerateSerializer, Immutable]
public sealed record WorkView(
    [property: Id(0)] string Key,
    [property: Id(1)] string Kind,
    [property: Id(2)] string Status,
    [property: Id(3)] long Epoch,
    [property: Id(4)] string? Silo,
    [property: Id(5)] string Phase,
    [property: Id(6)] long Tokens,
    [property: Id(7)] string? Checkpoint,
    [property: Id(8)] long CheckpointStep,
    [property: Id(9)] string? Error,
    [property: Id(10)] string? Spec = null);
