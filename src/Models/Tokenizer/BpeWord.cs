namespace SaeCluster.Models;

/// <summary>
/// The symbols of one word while BPE merges run over it: a doubly linked list over arrays, and a binary
/// min-heap of candidate merges keyed by (rank, position), exactly the procedure of Hugging Face
/// tokenizers' <c>Word::merge_all</c>: pop the lowest-ranked (then leftmost) candidate, drop it if stale,
/// merge, and push the pairs the new symbol forms with its neighbours. O(n log n) per word, so a
/// megabyte-long word is fine. One instance per thread, reused between words.
/// </summary>
internal sealed class BpeWord
{
    /// <summary>Symbol ids; -1 marks a symbol merged into its left neighbour.</summary>
    int[] _ids = new int[64];
    int[] _prev = new int[64];
    int[] _next = new int[64];
    int _count;

    /// <summary>Heap keys <c>(rank &lt;&lt; 32) | position</c>, and the id each candidate merge produces.</summary>
    ulong[] _heapKeys = new ulong[64];
    int[] _heapNewIds = new int[64];
    int _heapCount;

    /// <summary>Empties the word, making room for <paramref name="capacity"/> symbols.</summary>
    public void Reset(int capacity)
    {
        _count = 0;
        if (_ids.Length >= capacity) return;
        int size = Math.Max(capacity, _ids.Length * 2);
        _ids = new int[size];
        _prev = new int[size];
        _next = new int[size];
    }

    /// <summary>Appends a symbol (the capacity given to <see cref="Reset"/> must cover it).</summary>
    public void Add(int id)
    {
        int i = _count++;
        _ids[i] = id;
        _prev[i] = i - 1;
        _next[i] = -1;
        if (i > 0) _next[i - 1] = i;
    }

    /// <summary>Applies every possible merge, lowest rank first.</summary>
    public void MergeAll(BpeMergeTable merges)
    {
        if (_count < 2 || merges.Count == 0) return;
        int[] ids = _ids, prev = _prev, next = _next;

        _heapCount = 0;
        EnsureHeapCapacity(_count);
        for (int i = 0; i + 1 < _count; i++)
            if (merges.TryGet(ids[i], ids[i + 1], out long merge))
            {
                _heapKeys[_heapCount] = Key(merge, i);
                _heapNewIds[_heapCount++] = (int)merge;
            }
        for (int i = _heapCount / 2 - 1; i >= 0; i--) SiftDown(i);

        while (_heapCount > 0)
        {
            ulong key = _heapKeys[0];
            int newId = _heapNewIds[0];
            PopTop();

            int pos = (int)(uint)key;
            if (ids[pos] < 0) continue;
            int right = next[pos];
            if (right < 0) continue;
            // A stale candidate: the pair at `pos` changed since it was pushed.
            if (!merges.TryGet(ids[pos], ids[right], out long current) || (int)current != newId) continue;

            ids[pos] = newId;
            ids[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) prev[after] = pos;

            int before = prev[pos];
            if (before >= 0 && merges.TryGet(ids[before], newId, out long left))
                Push(Key(left, before), (int)left);
            if (after >= 0 && merges.TryGet(newId, ids[after], out long rightMerge))
                Push(Key(rightMerge, pos), (int)rightMerge);
        }
    }

    /// <summary>Appends the surviving symbols, in order, to <paramref name="output"/>.</summary>
    public void AppendTo(List<int> output)
    {
        for (int i = 0; i >= 0 && i < _count; i = _next[i]) output.Add(_ids[i]);
    }

    /// <summary>Heap key from a merge value (rank in its high half) and a position.</summary>
    static ulong Key(long merge, int position) => ((ulong)merge & 0xFFFF_FFFF_0000_0000UL) | (uint)position;

    void EnsureHeapCapacity(int capacity)
    {
        if (_heapKeys.Length >= capacity) return;
        int size = Math.Max(capacity, _heapKeys.Length * 2);
        Array.Resize(ref _heapKeys, size);
        Array.Resize(ref _heapNewIds, size);
    }

    void Push(ulong key, int newId)
    {
        EnsureHeapCapacity(_heapCount + 1);
        int i = _heapCount++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (_heapKeys[parent] <= key) break;
            _heapKeys[i] = _heapKeys[parent];
            _heapNewIds[i] = _heapNewIds[parent];
            i = parent;
        }
        _heapKeys[i] = key;
        _heapNewIds[i] = newId;
    }

    void PopTop()
    {
        int last = --_heapCount;
        if (last == 0) return;
        _heapKeys[0] = _heapKeys[last];
        _heapNewIds[0] = _heapNewIds[last];
        SiftDown(0);
    }

    void SiftDown(int i)
    {
        ulong key = _heapKeys[i];
        int newId = _heapNewIds[i];
        int half = _heapCount >> 1;
        while (i < half)
        {
            int child = 2 * i + 1;
            if (child + 1 < _heapCount && _heapKeys[child + 1] < _heapKeys[child]) child++;
            if (key <= _heapKeys[child]) break;
            _heapKeys[i] = _heapKeys[child];
            _heapNewIds[i] = _heapNewIds[child];
            i = child;
        }
        _heapKeys[i] = key;
        _heapNewIds[i] = newId;
    }
}
