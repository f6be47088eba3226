namespace SaeCluster.Models.Tests;

/// <summary>Each <see cref="TokenizerVariants"/> file against Hugging Face tokenizers: encoding with and without special tokens, and decoding.</summary>
public sealed class TokenizerVariantTests
{
    public static TheoryData<string> Names => new(TokenizerVariants.Names);

    [Theory]
    [MemberData(nameof(Names))]
    public void EncodeAndDecode_MatchHuggingFace(string variant)
    {
        using var temp = new TempDir();
        string path = temp["tokenizer.json"];
        File.WriteAllText(path, TokenizerVariants.Create(variant).ToJsonString());
        GemmaTokenizer tokenizer = GemmaTokenizer.Load(path);
        List<string> texts = [.. TokenizerVariants.Texts, .. TokenizerCorpus.Create().Where((_, i) => i % 6 == 0)];

        foreach (bool addSpecialTokens in new[] { true, false })
        {
            (int[][] expected, _) = TokenizerReference.Instance.Encode(path, texts, addSpecialTokens);
            TokenizerAssert.SameIds(texts, expected, texts.Select(text => tokenizer.Encode(text, addSpecialTokens)).ToArray());
            if (!addSpecialTokens) continue;
            foreach (bool skip in new[] { false, true })
            {
                string[] decoded = TokenizerReference.Instance.Decode(path, expected, skip);
                TokenizerAssert.SameTexts(expected, decoded, expected.Select(ids => tokenizer.Decode(ids, skip)).ToArray(), $"{variant}, skip special tokens: {skip}");
            }
        }
    }

    [Fact]
    public void MergeForms_GiveTheSameTokenizer()
    {
        using var temp = new TempDir();
        File.WriteAllText(temp["strings.json"], TokenizerVariants.Create("gemma-string-merges").ToJsonString());
        File.WriteAllText(temp["pairs.json"], TokenizerVariants.Create("gemma-pair-merges").ToJsonString());
        GemmaTokenizer strings = GemmaTokenizer.Load(temp["strings.json"]), pairs = GemmaTokenizer.Load(temp["pairs.json"]);
        foreach (string text in TokenizerVariants.Texts)
            Assert.Equal(strings.Encode(text), pairs.Encode(text));
        Assert.Equal(new[] { 2, strings.TokenToId("▁the")!.Value }, strings.Encode(" the"));
    }

    [Fact]
    public void AddedTokens_HonourTheirFlags()
    {
        using var temp = new TempDir();
        File.WriteAllText(temp["tokenizer.json"], TokenizerVariants.Create("gemma-string-merges").ToJsonString());
        GemmaTokenizer tokenizer = GemmaTokenizer.Load(temp["tokenizer.json"]);
        int Id(string token) => tokenizer.TokenToId(token)!.Value;
        int[] Encode(string text) => tokenizer.Encode(text, addSpecialTokens: false);

        // lstrip + rstrip swallow the spaces around <mask>. Of the six added tokens only "ab" is in the model
        // vocabulary: the other five get the ids after it, in file order.
        Assert.Equal(new[] { Id("a"), Id("<mask>"), Id("b") }, Encode("a  <mask>  b"));
        Assert.Equal(tokenizer.VocabSize - 5, Id("<mask>"));
        // single_word: "xyz" only when not glued to a word character.
        Assert.Equal(new[] { Id("xyz") }, Encode("xyz"));
        Assert.DoesNotContain(Id("xyz"), Encode("axyz"));
        // normalized: matched after " " became "▁", so a literal "▁" matches too.
        Assert.Equal(new[] { Id("hello world") }, Encode("hello world"));
        Assert.Equal(new[] { Id("hello world") }, Encode("hello▁world"));
        // special tokens are dropped by Decode on request, other added tokens are kept.
        Assert.Equal("<mask>x", tokenizer.Decode([Id("<special_thing>"), Id("<mask>"), Id("x")], skipSpecialTokens: true));
    }
}
