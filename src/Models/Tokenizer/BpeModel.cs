using System.Collections.Concurrent;
using System.Text;

namespace SaeCluster.Models;

/// <summary>
/// The BPE model of a tokenizer.json, behaving like Hugging Face tokenizers' <c>BPE</c> (without dropout,
/// continuing-subword prefix or end-of-word suffix, which Gemma does not use): a word starts as one symbol
/// per Unicode scalar value; a character missing from the vocabulary becomes its UTF-8 bytes as
/// <c>&lt;0xXX&gt;</c> tokens (byte fallback) or the unknown token (fused with a preceding unknown when
/// <c>fuse_unk</c>); then merges apply by rank. Thread-safe.
/// </summary>
internal sealed class BpeModel
{
    const int CacheCapacity = 10_000;
    const int MaxCachedWordLength = 256;

    /// <summary>Words longer than this get a scratch <see cref="BpeWord"/> of their own instead of growing the per-thread one.</summary>
    const int MaxPooledWordLength = 1 << 16;

    [ThreadStatic] static BpeWord? t_word;

    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    readonly string?[] _idToToken;

    /// <summary>Id of each single-character token in the Basic Multilingual Plane, -1 where none.</summary>
    readonly int[] _bmpIds = new int[char.MaxValue + 1];

    /// <summary>Ids of single-character tokens beyond the BMP, by code point.</summary>
    readonly Dictionary<int, int> _supplementaryIds = [];

    /// <summary>Id of <c>&lt;0xXX&gt;</c> for each byte, -1 where the vocabulary lacks it.</summary>
    readonly int[] _byteIds = new int[256];

    readonly BpeMergeTable _merges;

    readonly bool _byteFallback;
    readonly bool _fuseUnk;
    readonly bool _ignoreMerges;
    readonly string? _unkToken;
    readonly int _unkId;

    readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    int _cacheCount;

    /// <param name="vocab">Token → id.</param>
    /// <param name="merges">Merge pairs as token ids, in rank order, with the id of the merged token.</param>
    /// <param name="unkToken">The unknown token, or null to drop unknown characters (as HF does).</param>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(int Left, int Right, int Merged)> merges,
        string? unkToken, bool byteFallback, bool fuseUnk, bool ignoreMerges)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _byteFallback = byteFallback;
        _fuseUnk = fuseUnk;
        _ignoreMerges = ignoreMerges;
        _unkToken = unkToken;
        _unkId = unkToken is not null && vocab.TryGetValue(unkToken, out int unk) ? unk : -1;

        _idToToken = new string?[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        Array.Fill(_bmpIds, -1);
        foreach ((string token, int id) in vocab)
        {
            _idToToken[id] = token;
            if (token.Length == 1 && !char.IsSurrogate(token[0])) _bmpIds[token[0]] = id;
            else if (token.Length == 2 && char.IsSurrogatePair(token[0], token[1])) _supplementaryIds[char.ConvertToUtf32(token[0], token[1])] = id;
        }
        for (int b = 0; b < 256; b++)
            _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        _merges = new BpeMergeTable(merges);
    }

    /// <summary>Number of entries in the model vocabulary (HF's <c>get_vocab_size</c>).</summary>
    public int VocabularyCount => _vocab.Count;

    /// <summary>Largest model id plus one.</summary>
    public int IdLimit => _idToToken.Length;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>Tokenizes one pre-token and appends its ids to <paramref name="output"/>.</summary>
    public void Tokenize(ReadOnlySpan<char> word, List<int> output)
    {
        if (word.IsEmpty) return;
        if (_ignoreMerges && _vocabBySpan.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }
        bool cacheable = word.Length <= MaxCachedWordLength;
        if (cacheable && _cacheBySpan.TryGetValue(word, out int[]? cached))
        {
            output.AddRange(cached);
            return;
        }

        BpeWord symbols = word.Length > MaxPooledWordLength ? new BpeWord() : t_word ??= new BpeWord();
        // A UTF-16 unit never needs more than 3 byte-fallback symbols (a surrogate pair: 4 for 2 units).
        symbols.Reset(3 * word.Length);
        AddSymbols(word, symbols);
        symbols.MergeAll(_merges);

        int first = output.Count;
        symbols.AppendTo(output);
        if (cacheable && Volatile.Read(ref _cacheCount) < CacheCapacity
            && _cache.TryAdd(word.ToString(), output.GetRange(first, output.Count - first).ToArray()))
            Interlocked.Increment(ref _cacheCount);
    }

    /// <summary>HF's <c>BPE::merge_word</c> before merging: one symbol per character, byte fallback, unknowns.</summary>
    void AddSymbols(ReadOnlySpan<char> word, BpeWord symbols)
    {
        Span<byte> utf8 = stackalloc byte[4];
        bool pendingUnk = false;
        for (int i = 0; i < word.Length;)
        {
            int id;
            Rune rune;
            char c = word[i];
            if (!char.IsSurrogate(c))
            {
                rune = new Rune(c);
                id = _bmpIds[c];
                i++;
            }
            else
            {
                // A lone surrogate cannot reach HF (Rust strings are valid UTF-8); read it as U+FFFD.
                Rune.DecodeFromUtf16(word[i..], out rune, out int used);
                id = rune.IsBmp ? _bmpIds[rune.Value] : _supplementaryIds.GetValueOrDefault(rune.Value, -1);
                i += used;
            }

            if (id >= 0)
            {
                if (pendingUnk) symbols.Add(_unkId);
                pendingUnk = false;
                symbols.Add(id);
                continue;
            }
            if (_byteFallback && TryAddBytes(rune, utf8, symbols)) continue;
            if (_unkToken is null) continue;
            if (_unkId < 0) throw new InvalidOperationException($"the unknown token '{_unkToken}' is not in the vocabulary");
            // Without fuse_unk each unknown character gets its own token; with it, consecutive ones share one.
            if (pendingUnk && !_fuseUnk) symbols.Add(_unkId);
            pendingUnk = true;
        }
        if (pendingUnk) symbols.Add(_unkId);
    }

    /// <summary>Adds the byte tokens of <paramref name="rune"/>'s UTF-8 form if the vocabulary has them all.</summary>
    bool TryAddBytes(Rune rune, Span<byte> utf8, BpeWord symbols)
    {
        int length = rune.EncodeToUtf8(utf8);
        for (int b = 0; b < length; b++)
            if (_byteIds[utf8[b]] < 0) return false;
        for (int b = 0; b < length; b++) symbols.Add(_byteIds[utf8[b]]);
        return true;
    }
}
