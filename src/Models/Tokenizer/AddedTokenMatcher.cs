using System.Globalization;
using System.Text;

namespace SaeCluster.Models;

/// <summary>
/// Finds added tokens in a text the way Hugging Face tokenizers' <c>AddedVocabulary::find_matches</c>
/// does: non-overlapping leftmost-longest matches (its Aho-Corasick <c>LeftmostLongest</c>), then the
/// <c>single_word</c>, <c>lstrip</c> and <c>rstrip</c> flags of each matched token. The search resumes
/// after the end of the raw match even when the match was discarded or widened, as HF's does.
/// </summary>
internal sealed class AddedTokenMatcher
{
    /// <summary>Trie transitions keyed by <c>(node &lt;&lt; 16) | char</c>.</summary>
    readonly Dictionary<long, int> _children = [];

    /// <summary>Per trie node: the index into <see cref="_ids"/> of the token ending there, or -1.</summary>
    readonly List<int> _terminal = [-1];

    readonly List<int> _ids = [];
    readonly List<AddedToken> _tokens = [];

    /// <summary>Characters some pattern starts with: everything else is skipped without a trie walk.</summary>
    readonly bool[] _canStart = new bool[char.MaxValue + 1];

    /// <summary>True when no pattern was added, so a search can be skipped.</summary>
    public bool IsEmpty => _ids.Count == 0;

    /// <summary>
    /// Adds a pattern. <paramref name="flags"/> are the flags HF looks up by id at match time.
    /// An already-present pattern keeps its first entry (a lower Aho-Corasick pattern index wins ties).
    /// </summary>
    public void Add(string pattern, int id, AddedToken flags)
    {
        if (pattern.Length == 0) return;
        int node = 0;
        foreach (char c in pattern)
        {
            long key = ((long)node << 16) | c;
            if (!_children.TryGetValue(key, out int child))
            {
                child = _terminal.Count;
                _terminal.Add(-1);
                _children.Add(key, child);
            }
            node = child;
        }
        if (_terminal[node] >= 0) return;
        _terminal[node] = _ids.Count;
        _ids.Add(id);
        _tokens.Add(flags);
        _canStart[pattern[0]] = true;
    }

    /// <summary>
    /// Splits <paramref name="text"/> into pieces covering it entirely: added-token matches (with their
    /// id, possibly widened by lstrip/rstrip) and plain text (id -1). Appends to <paramref name="splits"/>.
    /// </summary>
    public void FindMatches(ReadOnlySpan<char> text, List<(int Start, int End, int Id)> splits)
    {
        int startOffset = 0;
        int pos = 0;
        while (pos < text.Length)
        {
            if (!_canStart[text[pos]] || !LongestMatchAt(text, pos, out int matchEnd, out int entry))
            {
                pos++;
                continue;
            }
            int start = pos, stop = matchEnd;
            pos = matchEnd;
            AddedToken token = _tokens[entry];
            if (token.SingleWord)
            {
                bool startSpace = start == 0 || !EndsWithWordChar(text[..start]);
                bool stopSpace = stop == text.Length || !StartsWithWordChar(text[stop..]);
                if (!startSpace || !stopSpace) continue;
            }
            if (token.LStrip) start = Math.Max(StartOfTrailingWhitespace(text[..start]), startOffset);
            if (token.RStrip) stop += LengthOfLeadingWhitespace(text[stop..]);
            if (startOffset < start) splits.Add((startOffset, start, -1));
            splits.Add((start, stop, _ids[entry]));
            startOffset = stop;
        }
        if (startOffset != text.Length) splits.Add((startOffset, text.Length, -1));
    }

    /// <summary>Walks the trie from <paramref name="pos"/> and reports the longest pattern found there.</summary>
    bool LongestMatchAt(ReadOnlySpan<char> text, int pos, out int end, out int entry)
    {
        end = -1;
        entry = -1;
        int node = 0;
        for (int i = pos; i < text.Length; i++)
        {
            if (!_children.TryGetValue(((long)node << 16) | text[i], out node)) break;
            int terminal = _terminal[node];
            if (terminal >= 0)
            {
                end = i + 1;
                entry = terminal;
            }
        }
        return entry >= 0;
    }

    /// <summary>Regex <c>\w</c> as Rust's regex crate defines it (Unicode): letters, marks, decimal digits, connector punctuation, join controls.</summary>
    static bool IsWordChar(Rune rune)
    {
        if (rune.Value is 0x200C or 0x200D) return true;
        switch (Rune.GetUnicodeCategory(rune))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.NonSpacingMark:
            case UnicodeCategory.SpacingCombiningMark:
            case UnicodeCategory.EnclosingMark:
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.ConnectorPunctuation:
                return true;
            default:
                return false;
        }
    }

    static bool EndsWithWordChar(ReadOnlySpan<char> text) =>
        Rune.DecodeLastFromUtf16(text, out Rune rune, out _) == System.Buffers.OperationStatus.Done && IsWordChar(rune);

    static bool StartsWithWordChar(ReadOnlySpan<char> text) =>
        Rune.DecodeFromUtf16(text, out Rune rune, out _) == System.Buffers.OperationStatus.Done && IsWordChar(rune);

    /// <summary>Where the run of whitespace (Unicode White_Space, regex <c>\s*$</c>) ending the text starts.</summary>
    static int StartOfTrailingWhitespace(ReadOnlySpan<char> text)
    {
        int i = text.Length;
        while (i > 0 && Rune.DecodeLastFromUtf16(text[..i], out Rune rune, out int used) == System.Buffers.OperationStatus.Done && Rune.IsWhiteSpace(rune))
            i -= used;
        return i;
    }

    /// <summary>Length of the run of whitespace (regex <c>^\s*</c>) starting the text.</summary>
    static int LengthOfLeadingWhitespace(ReadOnlySpan<char> text)
    {
        int i = 0;
        while (i < text.Length && Rune.DecodeFromUtf16(text[i..], out Rune rune, out int used) == System.Buffers.OperationStatus.Done && Rune.IsWhiteSpace(rune))
            i += used;
        return i;
    }
}
