namespace SaeCluster.Grains;

/// <summary>The answer to a submission: accepted, or refused because a sweep of that name exists (in <see cref="ExistingState"/>).</summary>
[GenerateSerializer, Immutable]
public sealed record SubmitResult([property: Id(0)] bool Accepted, [property: Id(1)] string? ExistingState);
