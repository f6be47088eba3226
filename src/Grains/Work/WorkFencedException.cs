namespace SaeCluster.Grains;

/// <summary>
/// An activation's state write was refused because a newer activation of the same work wrote since it
/// read (an ETag conflict): it is stale, nothing it wrote can become current, and it stops.
/// </summary>
public sealed class WorkFencedException(string key, long epoch, Exception? inner = null)
    : Exception($"{key}: the activation of epoch {epoch} was superseded by a newer one; it stops without publishing", inner)
{
    public string Key { get; } = key;
    public long Epoch { get; } = epoch;
}
