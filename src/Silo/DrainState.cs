namespace SaeCluster.Silo;

/// <summary>Whether this silo was asked to drain (stop running work, keep serving) and whether the drain has finished.</summary>
public sealed class DrainState
{
    volatile bool _draining, _drained;

    public bool Draining => _draining;
    public bool Drained => _drained;

    public void Begin() => _draining = true;
    public void Finish() => _drained = true;
}
