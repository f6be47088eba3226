namespace SaeCluster.Models;

/// <summary>
/// Packs a stream of documents into fixed contexts of T tokens: every context starts with BOS, documents
/// follow one another, each closed by EOS, and a document that does not fit continues in the next context.
/// The last partial context is padded. <see cref="Trainable"/> marks positions that may give training
/// activations: never BOS, EOS or padding.
/// </summary>
public sealed class ContextPacker
{
    public int ContextLength { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    readonly List<int> _pending = new();

    public ContextPacker(int contextLength, int bosId, int eosId, int padId)
    {
        if (contextLength < 2) throw new ArgumentOutOfRangeException(nameof(contextLength), "a context needs room for BOS and at least one token");
        ContextLength = contextLength; BosId = bosId; EosId = eosId; PadId = padId;
    }

    /// <summary>Contexts of <see cref="ContextLength"/> ids from documents' ids (without BOS; EOS is added here).</summary>
    public IEnumerable<int[]> Pack(IEnumerable<int[]> documents)
    {
        int room = ContextLength - 1;
        foreach (var doc in documents)
        {
            foreach (int id in doc) if (id != BosId) _pending.Add(id);
            _pending.Add(EosId);
            while (_pending.Count >= room)
            {
                yield return Context(room);
            }
        }
        if (_pending.Count > 0) yield return Context(_pending.Count);
    }

    int[] Context(int take)
    {
        var ctx = new int[ContextLength];
        ctx[0] = BosId;
        for (int i = 0; i < take; i++) ctx[i + 1] = _pending[i];
        for (int i = take + 1; i < ContextLength; i++) ctx[i] = PadId;
        _pending.RemoveRange(0, take);
        return ctx;
    }

    public bool Trainable(int id) => id != BosId && id != EosId && id != PadId;
}
