namespace SaeCluster.Models;

/// <summary>
/// The tokenizer.json pre-tokenizers of SentencePiece-style BPE files, with Hugging Face tokenizers'
/// semantics: none, <c>Split</c> on a literal string (Gemma: <c>" "</c>, <c>MergedWithPrevious</c>), and
/// <c>Metaspace</c> (spaces → replacement character, optional prefix, split before each replacement).
/// It cuts normalised text into words and hands each to the model.
/// </summary>
internal sealed class PreTokenizer
{
    readonly string? _splitPattern;
    readonly SplitDelimiterBehavior _behavior;
    readonly string? _metaspaceReplacement;
    readonly MetaspacePrependScheme _prependScheme;

    PreTokenizer(string? splitPattern, SplitDelimiterBehavior behavior, string? metaspaceReplacement, MetaspacePrependScheme prependScheme)
    {
        _splitPattern = splitPattern;
        _behavior = behavior;
        _metaspaceReplacement = metaspaceReplacement;
        _prependScheme = prependScheme;
    }

    /// <summary>Passes the text through as one word (tokenizer.json <c>"pre_tokenizer": null</c>).</summary>
    public static PreTokenizer None { get; } = new(null, SplitDelimiterBehavior.Isolated, null, MetaspacePrependScheme.Never);

    /// <summary>Splits on every non-overlapping occurrence of a literal <paramref name="pattern"/>.</summary>
    public static PreTokenizer Split(string pattern, SplitDelimiterBehavior behavior) =>
        new(pattern, behavior, null, MetaspacePrependScheme.Never);

    /// <summary>Metaspace: replaces spaces by <paramref name="replacement"/>, prepends it per <paramref name="scheme"/>, then (if <paramref name="split"/>) starts a word at each replacement.</summary>
    public static PreTokenizer Metaspace(string replacement, MetaspacePrependScheme scheme, bool split) =>
        new(split ? replacement : null, SplitDelimiterBehavior.MergedWithNext, replacement, scheme);

    /// <summary>Cuts <paramref name="text"/> into words and tokenizes each with <paramref name="model"/>.</summary>
    /// <param name="atInputStart">Whether the text begins the input (for <see cref="MetaspacePrependScheme.First"/>).</param>
    public void Apply(ReadOnlySpan<char> text, bool atInputStart, BpeModel model, List<int> output)
    {
        if (_metaspaceReplacement is { } replacement)
        {
            string rewritten = text.ToString().Replace(" ", replacement, StringComparison.Ordinal);
            bool prepend = _prependScheme switch
            {
                MetaspacePrependScheme.Always => true,
                MetaspacePrependScheme.First => atInputStart,
                _ => false,
            };
            if (prepend && !rewritten.StartsWith(replacement, StringComparison.Ordinal)) rewritten = replacement + rewritten;
            text = rewritten;
        }

        if (_splitPattern is null || text.IndexOf(_splitPattern, StringComparison.Ordinal) < 0)
        {
            model.Tokenize(text, output);
            return;
        }
        foreach ((int start, int end) in SplitOnPattern(text, _splitPattern, _behavior))
            model.Tokenize(text[start..end], output);
    }

    /// <summary>HF's <c>NormalizedString::split</c> with a literal pattern: the pieces to keep, as [start, end) ranges.</summary>
    static List<(int Start, int End)> SplitOnPattern(ReadOnlySpan<char> text, string pattern, SplitDelimiterBehavior behavior)
    {
        var matches = new List<(int Start, int End, bool IsMatch)>();
        int previous = 0;
        for (int at; previous < text.Length && (at = text[previous..].IndexOf(pattern, StringComparison.Ordinal)) >= 0;)
        {
            int start = previous + at;
            if (start != previous) matches.Add((previous, start, false));
            matches.Add((start, start + pattern.Length, true));
            previous = start + pattern.Length;
        }
        if (previous != text.Length) matches.Add((previous, text.Length, false));

        var pieces = new List<(int Start, int End)>(matches.Count);
        bool previousMatch = false;
        switch (behavior)
        {
            case SplitDelimiterBehavior.Isolated:
                foreach (var m in matches) pieces.Add((m.Start, m.End));
                break;
            case SplitDelimiterBehavior.Removed:
                foreach (var m in matches) if (!m.IsMatch) pieces.Add((m.Start, m.End));
                break;
            case SplitDelimiterBehavior.Contiguous:
                foreach (var m in matches)
                {
                    if (m.IsMatch == previousMatch && pieces.Count > 0) pieces[^1] = (pieces[^1].Start, m.End);
                    else pieces.Add((m.Start, m.End));
                    previousMatch = m.IsMatch;
                }
                break;
            case SplitDelimiterBehavior.MergedWithPrevious:
                foreach (var m in matches)
                {
                    if (m.IsMatch && !previousMatch && pieces.Count > 0) pieces[^1] = (pieces[^1].Start, m.End);
                    else pieces.Add((m.Start, m.End));
                    previousMatch = m.IsMatch;
                }
                break;
            case SplitDelimiterBehavior.MergedWithNext:
                for (int i = matches.Count - 1; i >= 0; i--)
                {
                    var m = matches[i];
                    if (m.IsMatch && !previousMatch && pieces.Count > 0) pieces[^1] = (m.Start, pieces[^1].End);
                    else pieces.Add((m.Start, m.End));
                    previousMatch = m.IsMatch;
                }
                pieces.Reverse();
                break;
        }
        return pieces;
    }
}
