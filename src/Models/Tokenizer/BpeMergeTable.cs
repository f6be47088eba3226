using System.Numerics;

namespace SaeCluster.Models;

/// <summary>
/// The BPE merges as an open-addressing hash table: token-id pair → (rank, merged id), both packed into
/// longs so lookups allocate nothing. (Dictionary&lt;long, long&gt; hashes a long as the XOR of its halves,
/// which makes every pair (a, b) collide with (b, a) and with each other's XOR twins; a multiplicative
/// hash spreads the pairs out.) Read-only after construction, so safe for concurrent readers.
/// </summary>
internal sealed class BpeMergeTable
{
    const long Empty = -1;

    readonly long[] _keys;
    readonly long[] _values;
    readonly int _shift;

    /// <param name="merges">Pairs in rank order with the merged token id; a pair listed twice keeps its later rank, as in HF.</param>
    public BpeMergeTable(IReadOnlyList<(int Left, int Right, int Merged)> merges)
    {
        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, merges.Count * 2));
        _shift = 64 - BitOperations.Log2((uint)capacity);
        _keys = new long[capacity];
        _values = new long[capacity];
        Array.Fill(_keys, Empty);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            (int left, int right, int merged) = merges[rank];
            long key = Pair(left, right);
            int slot = Slot(key);
            while (_keys[slot] != Empty && _keys[slot] != key) slot = (slot + 1) & (capacity - 1);
            _keys[slot] = key;
            _values[slot] = ((long)rank << 32) | (uint)merged;
        }
        Count = merges.Count;
    }

    /// <summary>Number of merges given (duplicates included).</summary>
    public int Count { get; }

    /// <summary>Looks up the merge of <paramref name="left"/> followed by <paramref name="right"/>.</summary>
    /// <param name="merge"><c>(rank &lt;&lt; 32) | mergedId</c> when found.</param>
    public bool TryGet(int left, int right, out long merge)
    {
        long key = Pair(left, right);
        long[] keys = _keys;
        int mask = keys.Length - 1;
        for (int slot = Slot(key); ; slot = (slot + 1) & mask)
        {
            long found = keys[slot];
            if (found == key)
            {
                merge = _values[slot];
                return true;
            }
            if (found == Empty)
            {
                merge = 0;
                return false;
            }
        }
    }

    static long Pair(int left, int right) => ((long)left << 32) | (uint)right;

    int Slot(long key) => (int)(((ulong)key * 0x9E37_79B9_7F4A_7C15UL) >> _shift);
}
