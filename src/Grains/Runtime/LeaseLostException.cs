namespace SaeCluster.Grains;

/// <summary>A durable write was refused because a newer claim (or a cancellation) superseded this activation's epoch.</summary>
public sealed class LeaseLostException(string key, long epoch)
    : Exception($"{key}: the lease of epoch {epoch} is no longer current (the actor was re-claimed, cancelled or ended)")
{
    public string Key { get; } = key;
    public long Epoch { get; } = epoch;
}
