namespace SaeCluster.Models;

/// <summary>
/// The added tokens of a tokenizer, set up as Hugging Face tokenizers' <c>AddedVocabulary::add_tokens</c>
/// does when it loads tokenizer.json: ids come from the model vocabulary (the ids written in the file are
/// only advisory in HF too), tokens missing from it get fresh ids after the model's; non-normalised
/// tokens are searched in the raw text, normalised ones (with their content normalised) in the
/// normalised text.
/// </summary>
internal sealed class AddedVocabulary
{
    readonly Dictionary<string, int> _contentToId = new(StringComparer.Ordinal);
    readonly Dictionary<int, AddedToken> _idToToken = [];
    readonly HashSet<string> _special = new(StringComparer.Ordinal);
    int _maxId = -1;

    /// <param name="tokens">The <c>added_tokens</c> entries, in file order.</param>
    /// <param name="model">Supplies ids for tokens that are part of the model vocabulary.</param>
    /// <param name="normalize">The tokenizer's normaliser, applied to the content of normalised tokens.</param>
    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, BpeModel model, Func<string, string> normalize)
    {
        var specialTokens = new List<AddedToken>();
        foreach (AddedToken token in tokens)
            if (token.Special && token.Content.Length > 0 && _special.Add(token.Content))
                specialTokens.Add(token);

        var classicTokens = new List<AddedToken>();
        var seen = new HashSet<AddedToken>();
        foreach (AddedToken token in tokens)
        {
            if (token.Content.Length == 0 || !seen.Add(token)) continue;
            int id = TokenToId(token.Content) ?? model.TokenToId(token.Content) ?? NextFreeId(model.VocabularyCount);
            _contentToId[token.Content] = id;
            _maxId = Math.Max(_maxId, id);
            _idToToken[id] = token;
            if (!_special.Contains(token.Content)) classicTokens.Add(token);
        }

        foreach (AddedToken token in specialTokens.Concat(classicTokens))
        {
            int id = _contentToId[token.Content];
            AddedToken flags = _idToToken[id];
            if (token.Normalized) NormalizedMatcher.Add(normalize(token.Content), id, flags);
            else RawMatcher.Add(token.Content, id, flags);
        }
    }

    /// <summary>Tokens matched in the raw input, before normalisation.</summary>
    public AddedTokenMatcher RawMatcher { get; } = new();

    /// <summary>Tokens matched in the normalised text.</summary>
    public AddedTokenMatcher NormalizedMatcher { get; } = new();

    /// <summary>Every id an added token owns (for the vocabulary size).</summary>
    public IEnumerable<int> Ids => _idToToken.Keys;

    public int? TokenToId(string content) => _contentToId.TryGetValue(content, out int id) ? id : null;

    public string? IdToToken(int id) => _idToToken.TryGetValue(id, out AddedToken? token) ? token.Content : null;

    /// <summary>Whether <paramref name="content"/> is a special token (skipped by decoding on request).</summary>
    public bool IsSpecial(string content) => _special.Contains(content);

    /// <summary>HF's id for a token the model does not know: after the model vocabulary and after every added id.</summary>
    int NextFreeId(int modelVocabularyCount) =>
        _maxId < 0 ? modelVocabularyCount
        : _maxId >= modelVocabularyCount || modelVocabularyCount == 0 ? _maxId + 1
        : modelVocabularyCount;
}
