using System.Text.Json;

namespace SaeCluster.Models.Tests;

/// <summary>Comparisons against Hugging Face tokenizers' output that report the first differences legibly.</summary>
public static class TokenizerAssert
{
    /// <summary>Fails with the first differing decodings shown.</summary>
    public static void SameTexts(IReadOnlyList<int[]> ids, string[] expected, string[] actual, string what)
    {
        var failures = Enumerable.Range(0, ids.Count).Where(i => expected[i] != actual[i]).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {ids.Count} decodings ({what}) differ from Hugging Face tokenizers:\n" + string.Join("\n", failures.Take(5).Select(i =>
            $"[{string.Join(", ", ids[i].Take(40))}]: HF {JsonSerializer.Serialize(expected[i])} vs ours {JsonSerializer.Serialize(actual[i])}")));
    }

    /// <summary>Fails with the first differing encodings shown: the text and the ids from the first difference on.</summary>
    public static void SameIds(IReadOnlyList<string> texts, int[][] expected, int[][] actual)
    {
        var failures = Enumerable.Range(0, texts.Count).Where(i => !expected[i].AsSpan().SequenceEqual(actual[i])).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {texts.Count} texts differ from Hugging Face tokenizers:\n" +
            string.Join("\n", failures.Take(5).Select(i => DescribeDifference(i, texts[i], expected[i], actual[i]))));
    }

    static string DescribeDifference(int index, string text, int[] expected, int[] actual)
    {
        int at = 0;
        while (at < Math.Min(expected.Length, actual.Length) && expected[at] == actual[at]) at++;
        string shown = text.Length > 300 ? text[..300] + "…" : text;
        return $"text #{index} {JsonSerializer.Serialize(shown)} ({text.Length} chars), first difference at id #{at}: " +
            $"HF [{string.Join(", ", expected.Skip(at).Take(12))}] vs ours [{string.Join(", ", actual.Skip(at).Take(12))}] ({expected.Length} vs {actual.Length} ids)";
    }
}
