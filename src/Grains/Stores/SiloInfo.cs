namespace SaeCluster.Grains;

/// <summary>A silo in the membership table: its id, what it offers (e.g. "gpu", "cpu") and its last heartbeat.</summary>
public sealed record SiloInfo(string Id, IReadOnlyList<string> Capabilities, DateTimeOffset Heartbeat);
