namespace SaeCluster.Sae;

/// <summary>
/// A stream of activation vectors, read in batches. Batch #step is a pure function of (source, seed,
/// step), so a resumed run sees exactly the batches an uninterrupted one would.
/// </summary>
public interface IActivationSource : IDisposable
{
    int DIn { get; }
    /// <summary>Distinct rows available (null = unbounded, e.g. a generator).</summary>
    long? Rows { get; }
    /// <summary>Normalisation scale s stored with the data (E‖s·x‖² = 1), when the producer recorded one.</summary>
    float? NormScale { get; }
    /// <summary>Metadata for cfg.json (model, hook, dataset…).</summary>
    IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Fills <paramref name="dst"/> [batchSize, DIn] with the rows of batch #step.</summary>
    void ReadBatch(long step, int batchSize, float[] dst);
}
