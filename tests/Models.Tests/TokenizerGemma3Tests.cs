using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace SaeCluster.Models.Tests;

/// <summary>
/// <see cref="GemmaTokenizer"/> on the real Gemma 3 tokenizer.json (262,144 tokens, ~515k merges) against
/// Hugging Face tokenizers: identical ids on the whole corpus, identical decoding, round trips, long input.
/// </summary>
public sealed class TokenizerGemma3Tests(ITestOutputHelper output)
{
    static readonly Lazy<GemmaTokenizer> Gemma3 = new(() => GemmaTokenizer.Load(TokenizerReference.Instance.Gemma3TokenizerPath));

    /// <summary>The corpus and HF's ids for it (add_special_tokens true), computed once.</summary>
    static readonly Lazy<(List<string> Texts, int[][] Ids, TokenizerTiming Timing)> Expected = new(() =>
    {
        List<string> texts = TokenizerCorpus.Create();
        (int[][] ids, TokenizerTiming timing) = TokenizerReference.Instance.Encode(TokenizerReference.Instance.Gemma3TokenizerPath, texts);
        return (texts, ids, timing);
    });

    [Fact]
    public void Load_ReadsTheGemma3Vocabulary()
    {
        GemmaTokenizer tokenizer = Gemma3.Value;
        // 262,144 model tokens plus <image_soft_token>, which only added_tokens defines (id 262144).
        Assert.Equal(262_145, tokenizer.VocabSize);
        Assert.Equal((2, 1, 0), (tokenizer.BosId, tokenizer.EosId, tokenizer.PadId));
        Assert.Equal("<start_of_turn>", tokenizer.IdToToken(tokenizer.TokenToId("<start_of_turn>")!.Value));
        Assert.Equal(262_144, tokenizer.TokenToId("<image_soft_token>"));
        Assert.Equal("<0x0A>", tokenizer.IdToToken(tokenizer.TokenToId("<0x0A>")!.Value));
        Assert.Null(tokenizer.IdToToken(262_145));
        Assert.Null(tokenizer.TokenToId("definitely not a token"));
    }

    [Fact]
    public void Encode_MatchesHuggingFaceOnTheCorpus()
    {
        (List<string> texts, int[][] expected, TokenizerTiming reference) = Expected.Value;
        Assert.True(texts.Count >= 2000, $"corpus has only {texts.Count} texts");
        GemmaTokenizer tokenizer = Gemma3.Value;

        var stopwatch = Stopwatch.StartNew();
        int[][] actual = texts.Select(text => tokenizer.Encode(text)).ToArray();
        stopwatch.Stop();

        TokenizerAssert.SameIds(texts, expected, actual);
        var ours = new TokenizerTiming(actual.Sum(ids => (long)ids.Length), stopwatch.Elapsed.TotalSeconds);
        output.WriteLine($"{texts.Count} texts, {texts.Sum(t => (long)t.Length):N0} characters");
        output.WriteLine($"GemmaTokenizer.Encode (first pass, cold cache): {ours}");
        output.WriteLine($"HF tokenizers (node, awaited encode calls): {reference}");
    }

    [Fact]
    public void Encode_WithoutSpecialTokens_MatchesHuggingFace()
    {
        List<string> texts = Expected.Value.Texts.Where((_, i) => i % 4 == 0).ToList();
        (int[][] expected, _) = TokenizerReference.Instance.Encode(TokenizerReference.Instance.Gemma3TokenizerPath, texts, addSpecialTokens: false);
        TokenizerAssert.SameIds(texts, expected, texts.Select(text => Gemma3.Value.Encode(text, addSpecialTokens: false)).ToArray());
    }

    /// <summary>One 1 MiB text with few spaces (one long pre-token after another) encodes to HF's ids.
    /// How fast it encodes is a benchmark's question, not this test's.</summary>
    [Fact]
    public void Encode_OneMegabyteWithFewSpaces_MatchesHuggingFace()
    {
        string text = TokenizerCorpus.FewSpaces(1 << 20);
        (int[][] expected, _) = TokenizerReference.Instance.Encode(TokenizerReference.Instance.Gemma3TokenizerPath, [text]);
        TokenizerAssert.SameIds([text], expected, [Gemma3.Value.Encode(text)]);
    }

    [Fact]
    public void Decode_MatchesHuggingFace()
    {
        (_, int[][] corpusIds, _) = Expected.Value;
        var random = new Random(5);
        var sequences = corpusIds.Where((_, i) => i % 3 == 0).ToList();
        // Arbitrary ids too: byte tokens that do not form UTF-8, special and unused tokens, ids past the vocabulary.
        for (int i = 0; i < 300; i++)
            sequences.Add(Enumerable.Range(0, random.Next(0, 20)).Select(_ => random.Next(4) switch
            {
                0 => random.Next(0, 300),
                1 => random.Next(236_000, 262_146),
                2 => random.Next(262_140, 262_200),
                _ => random.Next(0, 262_144),
            }).ToArray());

        foreach (bool skip in new[] { false, true })
        {
            string[] expected = TokenizerReference.Instance.Decode(TokenizerReference.Instance.Gemma3TokenizerPath, sequences, skip);
            TokenizerAssert.SameTexts(sequences, expected, sequences.Select(ids => Gemma3.Value.Decode(ids, skip)).ToArray(), $"skip special tokens: {skip}");
        }
    }

    [Fact]
    public void Encode_FromManyThreads_GivesTheSameIds()
    {
        (List<string> texts, int[][] expected, _) = Expected.Value;
        var actual = new int[texts.Count][];
        Parallel.For(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => actual[i] = Gemma3.Value.Encode(texts[i]));
        TokenizerAssert.SameIds(texts, expected, actual);
    }

    [Fact]
    public void Decode_OfEncode_GivesTheTextBack()
    {
        // The decoder turns every "▁" into a space, so only texts without a literal "▁" come back unchanged (as with HF).
        foreach (string text in Expected.Value.Texts.Where(t => !t.Contains('\u2581')))
            Assert.Equal(text, Gemma3.Value.Decode(Gemma3.Value.Encode(text, addSpecialTokens: false)));
    }
}
