using System.Text;
using System.Text.Unicode;

namespace SaeCluster.Models;

/// <summary>
/// The tokenizer.json decoders SentencePiece-style BPE files use, with Hugging Face tokenizers' semantics:
/// each step maps the list of token strings to a new list (<c>decode_chain</c>) and the result is
/// concatenated. Supported: <c>Replace</c> (literal), <c>ByteFallback</c>, <c>Fuse</c>, <c>Strip</c>,
/// <c>Metaspace</c> and <c>Sequence</c>; with no decoder, tokens are joined with spaces as HF does.
/// </summary>
internal sealed class TokenDecoder
{
    readonly Func<List<string>, List<string>>? _chain;

    TokenDecoder(Func<List<string>, List<string>>? chain) => _chain = chain;

    /// <summary>No decoder: tokens joined with single spaces.</summary>
    public static TokenDecoder None { get; } = new(null);

    /// <summary>Replaces every occurrence of a literal <paramref name="pattern"/> in each token.</summary>
    public static TokenDecoder Replace(string pattern, string content) => new(tokens =>
        pattern.Length == 0 ? tokens : tokens.ConvertAll(t => t.Replace(pattern, content, StringComparison.Ordinal)));

    /// <summary>Turns runs of <c>&lt;0xXX&gt;</c> tokens into the text their bytes spell, or one U+FFFD per byte when they are not valid UTF-8.</summary>
    public static TokenDecoder ByteFallback { get; } = new(DecodeByteTokens);

    /// <summary>Concatenates all tokens into one.</summary>
    public static TokenDecoder Fuse { get; } = new(tokens => [string.Concat(tokens)]);

    /// <summary>Removes up to <paramref name="start"/> leading and <paramref name="stop"/> trailing <paramref name="content"/> characters from each token.</summary>
    public static TokenDecoder Strip(Rune content, int start, int stop) => new(tokens => tokens.ConvertAll(t => StripToken(t, content, start, stop)));

    /// <summary>Replacement characters back to spaces; the first token loses them entirely unless the scheme is <see cref="MetaspacePrependScheme.Never"/> (HF's behaviour).</summary>
    public static TokenDecoder Metaspace(Rune replacement, MetaspacePrependScheme scheme) => new(tokens =>
    {
        var result = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            var builder = new StringBuilder(tokens[i].Length);
            foreach (Rune rune in tokens[i].EnumerateRunes())
            {
                if (rune != replacement) builder.Append(rune.ToString());
                else if (i != 0 || scheme == MetaspacePrependScheme.Never) builder.Append(' ');
            }
            result.Add(builder.ToString());
        }
        return result;
    });

    /// <summary>Runs the decoders one after the other.</summary>
    public static TokenDecoder Sequence(IReadOnlyList<TokenDecoder> steps) => new(tokens =>
    {
        foreach (TokenDecoder step in steps) tokens = step.Chain(tokens);
        return tokens;
    });

    /// <summary>Decodes token strings into text.</summary>
    public string Decode(List<string> tokens) => _chain is null ? string.Join(' ', tokens) : string.Concat(_chain(tokens));

    List<string> Chain(List<string> tokens) => _chain is null ? tokens : _chain(tokens);

    static List<string> DecodeByteTokens(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            if (TryParseByteToken(token, out byte value))
            {
                bytes.Add(value);
                continue;
            }
            FlushBytes(bytes, result);
            result.Add(token);
        }
        FlushBytes(bytes, result);
        return result;
    }

    static void FlushBytes(List<byte> bytes, List<string> result)
    {
        if (bytes.Count == 0) return;
        ReadOnlySpan<byte> span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        if (Utf8.IsValid(span)) result.Add(Encoding.UTF8.GetString(span));
        else for (int i = 0; i < bytes.Count; i++) result.Add("\uFFFD");
        bytes.Clear();
    }

    /// <summary>A six-character token <c>&lt;0xHH&gt;</c> with two hexadecimal digits.</summary>
    static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        if (token.Length != 6 || !token.StartsWith("<0x", StringComparison.Ordinal) || token[5] != '>') return false;
        int high = HexValue(token[3]), low = HexValue(token[4]);
        if (high < 0 || low < 0) return false;
        value = (byte)(high * 16 + low);
        return true;
    }

    static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    static string StripToken(string token, Rune content, int start, int stop)
    {
        Rune[] runes = [.. token.EnumerateRunes()];
        int from = 0;
        while (from < start && from < runes.Length && runes[from] == content) from++;
        int to = runes.Length;
        for (int i = 0; i < stop && to > from && runes[to - 1] == content; i++) to--;
        var builder = new StringBuilder(token.Length);
        for (int i = from; i < to; i++) builder.Append(runes[i].ToString());
        return builder.ToString();
    }
}
