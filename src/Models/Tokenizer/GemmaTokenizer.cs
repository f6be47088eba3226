namespace SaeCluster.Models;

/// <summary>
/// A Hugging Face tokenizer.json BPE tokenizer as Gemma exports it, reproducing HF tokenizers' ids exactly:
/// added tokens are cut out of the raw text first (longest match, honouring their flags), each remaining
/// stretch is normalised (Gemma: spaces → "▁"), pre-tokenized, and BPE-encoded with byte fallback; the
/// post-processor adds &lt;bos&gt;. Encoding is thread-safe.
/// </summary>
/// <remarks>See ../shared/reference/gemma.md section 4 for the Gemma tokenizer facts.</remarks>
public sealed class GemmaTokenizer
{
    readonly BpeModel _model;
    readonly AddedVocabulary _added;
    readonly TextNormalizer _normalizer;
    readonly PreTokenizer _preTokenizer;
    readonly TokenDecoder _decoder;
    readonly int[] _prefixIds;
    readonly int[] _suffixIds;

    internal GemmaTokenizer(BpeModel model, AddedVocabulary added, TextNormalizer normalizer, PreTokenizer preTokenizer,
        TokenDecoder decoder, int[] prefixIds, int[] suffixIds)
    {
        _model = model;
        _added = added;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _decoder = decoder;
        _prefixIds = prefixIds;
        _suffixIds = suffixIds;
        VocabSize = Math.Max(model.IdLimit, added.Ids.DefaultIfEmpty(-1).Max() + 1);
        BosId = TokenToId("<bos>") ?? -1;
        EosId = TokenToId("<eos>") ?? -1;
        PadId = TokenToId("<pad>") ?? -1;
    }

    /// <summary>Loads a tokenizer.json.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="TokenizerFormatException">Malformed JSON, a bad field, or an unsupported component; the message names the file and the field.</exception>
    public static GemmaTokenizer Load(string path) => TokenizerJsonReader.Read(path);

    /// <summary>Number of ids (largest id plus one, added tokens included): the embedding rows a model needs.</summary>
    public int VocabSize { get; }

    /// <summary>Id of &lt;bos&gt;, or -1 when the vocabulary has none.</summary>
    public int BosId { get; }

    /// <summary>Id of &lt;eos&gt;, or -1 when the vocabulary has none.</summary>
    public int EosId { get; }

    /// <summary>Id of &lt;pad&gt;, or -1 when the vocabulary has none.</summary>
    public int PadId { get; }

    /// <summary>The token with this id (added tokens first, as HF), or null.</summary>
    public string? IdToToken(int id) => _added.IdToToken(id) ?? _model.IdToToken(id);

    /// <summary>The id of this token (added tokens first, as HF), or null.</summary>
    public int? TokenToId(string token) => _added.TokenToId(token) ?? _model.TokenToId(token);

    /// <summary>Encodes text into token ids, as HF's <c>encode(text, add_special_tokens)</c> does.</summary>
    /// <param name="addSpecialTokens">Apply the post-processor template (Gemma: a leading &lt;bos&gt;).</param>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 8);
        if (addSpecialTokens) ids.AddRange(_prefixIds);

        var segments = new List<(int Start, int End, int Id)>();
        _added.RawMatcher.FindMatches(text, segments);
        foreach ((int start, int end, int id) in segments)
        {
            if (id >= 0)
            {
                ids.Add(id);
                continue;
            }
            string raw = start == 0 && end == text.Length ? text : text[start..end];
            EncodeNormalized(_normalizer.Normalize(raw), atInputStart: start == 0, ids);
        }

        if (addSpecialTokens) ids.AddRange(_suffixIds);
        return ids.ToArray();
    }

    /// <summary>
    /// Turns ids back into text, as HF's <c>decode</c> does: unknown ids are skipped, special tokens too when
    /// <paramref name="skipSpecialTokens"/>, and the decoder (Gemma: "▁" → space, byte tokens → UTF-8) runs.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (IdToToken(id) is not { } token) continue;
            if (skipSpecialTokens && _added.IsSpecial(token)) continue;
            tokens.Add(token);
        }
        return _decoder.Decode(tokens);
    }

    /// <summary>One normalised stretch between raw-matched added tokens: normalised-form added tokens, then words.</summary>
    void EncodeNormalized(string normalized, bool atInputStart, List<int> ids)
    {
        if (normalized.Length == 0) return;
        if (_added.NormalizedMatcher.IsEmpty)
        {
            _preTokenizer.Apply(normalized, atInputStart, _model, ids);
            return;
        }
        var pieces = new List<(int Start, int End, int Id)>();
        _added.NormalizedMatcher.FindMatches(normalized, pieces);
        foreach ((int start, int end, int id) in pieces)
        {
            if (id >= 0) ids.Add(id);
            else _preTokenizer.Apply(normalized.AsSpan(start, end - start), atInputStart && start == 0, _model, ids);
        }
    }
}
