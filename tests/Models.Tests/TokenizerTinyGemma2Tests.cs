namespace SaeCluster.Models.Tests;

/// <summary>
/// The tokenizer of ../shared/data/tiny-gemma2-code (Gemma style, 357 tokens, byte fallback, no merges)
/// against Hugging Face tokenizers.
/// </summary>
public sealed class TokenizerTinyGemma2Tests
{
    static string TokenizerPath => Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json");

    [Fact]
    public void Load_ReadsTheTinyVocabulary()
    {
        GemmaTokenizer tokenizer = GemmaTokenizer.Load(TokenizerPath);
        Assert.Equal(357, tokenizer.VocabSize);
        Assert.Equal((2, 1, 0), (tokenizer.BosId, tokenizer.EosId, tokenizer.PadId));
        Assert.Equal(3, tokenizer.TokenToId("<unk>"));
        Assert.Equal("<0x00>", tokenizer.IdToToken(4));
        Assert.Equal("\u2581", tokenizer.IdToToken(260));
    }

    [Fact]
    public void Encode_SpellsCharactersAndFallsBackToBytes()
    {
        GemmaTokenizer tokenizer = GemmaTokenizer.Load(TokenizerPath);
        int Id(string token) => tokenizer.TokenToId(token)!.Value;
        Assert.Equal(new[] { 2, Id("a"), Id("\u2581"), Id("b") }, tokenizer.Encode("a b"));
        Assert.Equal(new[] { Id("<0xC3>"), Id("<0xA9>") }, tokenizer.Encode("é", addSpecialTokens: false));
        Assert.Equal(new[] { 2, 2, Id("x"), 1 }, tokenizer.Encode("<bos>x<eos>"));
        Assert.Equal(new[] { 2 }, tokenizer.Encode(""));
    }

    [Fact]
    public void EncodeAndDecode_MatchHuggingFaceOnTheCorpus()
    {
        List<string> texts = TokenizerCorpus.Create();
        (int[][] expected, _) = TokenizerReference.Instance.Encode(TokenizerPath, texts);
        GemmaTokenizer tokenizer = GemmaTokenizer.Load(TokenizerPath);
        TokenizerAssert.SameIds(texts, expected, texts.Select(text => tokenizer.Encode(text)).ToArray());

        string[] decoded = TokenizerReference.Instance.Decode(TokenizerPath, expected, skipSpecialTokens: true);
        TokenizerAssert.SameTexts(expected, decoded, expected.Select(ids => tokenizer.Decode(ids, skipSpecialTokens: true)).ToArray(), "skip special tokens");
        foreach (string text in texts.Where(t => !t.Contains('\u2581')))
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecialTokens: false)));
    }
}
