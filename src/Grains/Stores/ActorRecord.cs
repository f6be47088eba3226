namespace SaeCluster.Grains;

/// <summary>An actor as the cluster store holds it: key, kind, required capability, status, epoch, lease, state.</summary>
public sealed record ActorRecord(string Key, string Kind, string? Capability, ActorStatus Status, long Epoch,
    string? Owner, DateTimeOffset? LeaseExpires, string State);
