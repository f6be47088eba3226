namespace SaeCluster.Models;

/// <summary>
/// The tokenizer.json normalisers Gemma and other SentencePiece-style BPE files use, with Hugging Face
/// tokenizers' semantics: <c>Replace</c> with a literal pattern, <c>Prepend</c>, and <c>Sequence</c> of them.
/// Like HF, a normaliser runs on each stretch of text between added tokens separately.
/// </summary>
internal sealed class TextNormalizer
{
    readonly Func<string, string> _apply;

    TextNormalizer(Func<string, string> apply) => _apply = apply;

    /// <summary>Leaves text unchanged (tokenizer.json <c>"normalizer": null</c>).</summary>
    public static TextNormalizer Identity { get; } = new(text => text);

    /// <summary>Replaces every non-overlapping occurrence of <paramref name="pattern"/>, left to right (an empty pattern matches nothing).</summary>
    public static TextNormalizer Replace(string pattern, string content) =>
        pattern.Length == 0 ? Identity : new(text => text.Replace(pattern, content, StringComparison.Ordinal));

    /// <summary>Puts <paramref name="prefix"/> before any non-empty text.</summary>
    public static TextNormalizer Prepend(string prefix) => new(text => text.Length == 0 ? text : prefix + text);

    /// <summary>Applies the normalisers in order.</summary>
    public static TextNormalizer Sequence(IReadOnlyList<TextNormalizer> steps) => new(text =>
    {
        foreach (TextNormalizer step in steps) text = step.Normalize(text);
        return text;
    });

    public string Normalize(string text) => _apply(text);
}
