namespace SaeCluster.Models.Tests;

/// <summary>
/// <see cref="GemmaTokenizer"/> beyond Gemma 3: the real tokenizer.json files of the SentencePiece-BPE family of
/// Gemma 1 and 2 — Gemma (256k, no pre-tokenizer), Gemma 2 (a Split pre-tokenizer on spaces) and Llama 2 (32k, a
/// Prepend normaliser and a Strip decoder) — against Hugging Face tokenizers, on a third of the tokenizer corpus.
/// </summary>
public sealed class TokenizerFamilyTests
{
    static readonly Lazy<List<string>> Texts = new(() => TokenizerCorpus.Create().Where((_, i) => i % 3 == 0).ToList());

    public static TheoryData<string> Families() => [.. TokenizerReference.FamilyPackages.Keys];

    [Theory]
    [MemberData(nameof(Families))]
    public void EncodeAndDecodeMatchHuggingFace(string family)
    {
        string path = TokenizerReference.Instance.TokenizerPath(family);
        var tokenizer = GemmaTokenizer.Load(path);
        var texts = Texts.Value;
        Assert.True(texts.Count >= 600, $"{texts.Count} texts");

        var (expected, _) = TokenizerReference.Instance.Encode(path, texts);
        var actual = texts.Select(t => tokenizer.Encode(t)).ToArray();
        TokenizerAssert.SameIds(texts, expected, actual);

        var plain = texts.Where((_, i) => i % 4 == 0).ToList();
        var (expectedPlain, _) = TokenizerReference.Instance.Encode(path, plain, addSpecialTokens: false);
        TokenizerAssert.SameIds(plain, expectedPlain, plain.Select(t => tokenizer.Encode(t, addSpecialTokens: false)).ToArray());

        var ids = actual.Where((_, i) => i % 4 == 0).ToArray();
        var decoded = TokenizerReference.Instance.Decode(path, ids, skipSpecialTokens: false);
        for (int i = 0; i < ids.Length; i++) Assert.Equal(decoded[i], tokenizer.Decode(ids[i]));
        var skipped = TokenizerReference.Instance.Decode(path, ids, skipSpecialTokens: true);
        for (int i = 0; i < ids.Length; i++) Assert.Equal(skipped[i], tokenizer.Decode(ids[i], skipSpecialTokens: true));
    }
}
