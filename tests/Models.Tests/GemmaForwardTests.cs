using System.Text.Json.Nodes;
using SaeCluster.Models;

namespace SaeCluster.Models.Tests;

public class GemmaForwardTests
{
    // The tiny model's tokenizer has no merges: one token per character (" " → "▁"), bytes otherwise.
    static int[] CharTokens(string text, string tokenizerJson)
    {
        var vocab = JsonNode.Parse(File.ReadAllText(tokenizerJson))!["model"]!["vocab"]!.AsObject();
        var ids = new List<int> { 2 }; // <bos>
        foreach (var rune in text.EnumerateRunes())
        {
            string s = rune.Value == ' ' ? "▁" : rune.ToString();
            if (vocab[s] is JsonNode id) { ids.Add((int)id); continue; }
            var bytes = new byte[4];
            int n = rune.EncodeToUtf8(bytes);
            for (int i = 0; i < n; i++) ids.Add((int)vocab[$"<0x{bytes[i]:X2}>"]!);
        }
        return ids.ToArray();
    }

    static string PythonSource(int chars)
    {
        var dir = Directory.GetDirectories("/usr/lib", "python3*").Order().First(d => File.Exists(Path.Combine(d, "textwrap.py")));
        var text = string.Concat(new[] { "json/encoder.py", "textwrap.py", "fnmatch.py" }
            .Select(f => Path.Combine(dir, f)).Where(File.Exists).Select(File.ReadAllText));
        return text[..Math.Min(chars, text.Length)];
    }

    [Fact]
    public void TrainedTinyGemma2PredictsPythonSource()
    {
        var model = GemmaModel.Load(RepositoryPaths.TinyGemma2);
        Assert.Equal(GemmaVersion.Gemma2, model.Config.Version);
        var ids = CharTokens(PythonSource(255 * 2), Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json"));
        // two rows of 256 tokens (each starting with BOS), positions restart per row
        var batch = ids[..256].Concat(new[] { 2 }).Concat(ids[256..(256 + 255)]).ToArray();
        var logits = model.Forward(batch, rows: 2)!;
        var ce = model.CrossEntropy(batch, 2, logits).Where(float.IsFinite).Average();
        // the model reached ≈ 1.1 nats/token on this kind of text; a wrong detail (norms, RoPE, softcaps,
        // window, GQA) costs far more. A uniform guess is ln 357 ≈ 5.9.
        Assert.InRange(ce, 0.3, 1.8);
    }

    [Fact]
    public void Bf16MatmulsKeepTheLossWithinAHundredthOfANat()
    {
        var model = GemmaModel.Load(RepositoryPaths.TinyGemma2);
        var ids = CharTokens(PythonSource(600), Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json"))[..256];
        double fp32 = model.CrossEntropy(ids, 1, model.Forward(ids, 1)!).Where(float.IsFinite).Average();
        model.Bf16Matmuls = true;
        double bf16 = model.CrossEntropy(ids, 1, model.Forward(ids, 1)!).Where(float.IsFinite).Average();
        Assert.True(Math.Abs(fp32 - bf16) < 0.01, $"fp32 {fp32:F4} vs bf16 {bf16:F4}");
    }

    [Fact]
    public void RowsAreIndependentAndHooksSeeEverySite()
    {
        var model = GemmaModel.Load(RepositoryPaths.TinyGemma2);
        var ids = CharTokens(PythonSource(200), Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json"))[..100];
        var single = model.Forward(ids, 1)!;
        var twice = model.Forward(ids.Concat(ids).ToArray(), 2)!;
        for (int i = 0; i < single.Length; i++) Assert.Equal(single[i], twice[i], 1e-4f);
        for (int i = 0; i < single.Length; i++) Assert.Equal(single[i], twice[single.Length + i], 1e-4f);

        var hook = new RecordingHook(layer => true);
        model.Forward(ids, 1, hook, logits: false);
        Assert.Equal(4 * 4, hook.Seen.Count);
        Assert.Equal(100 * 192, hook.Seen[(0, HookSite.Att)].Length); // Hq·D = 192 ≠ d = 128
        Assert.Equal(100 * 128, hook.Seen[(3, HookSite.Res)].Length);
    }

    [Fact]
    public void StopsAfterTheDeepestWantedLayer()
    {
        var model = GemmaModel.Load(RepositoryPaths.TinyGemma2, layers: 2);
        var hook = new RecordingHook(layer => layer == 1);
        Assert.Null(model.Forward(new[] { 2, 100, 101, 102 }, 1, hook, logits: false));
        Assert.True(hook.Seen.ContainsKey((1, HookSite.Mlp)));
        Assert.Throws<InvalidOperationException>(() => model.Forward(new[] { 2, 100 }, 1));
    }

    [Fact]
    public void SpliceReplacesTheActivationDownstream()
    {
        var model = GemmaModel.Load(RepositoryPaths.TinyGemma2);
        var ids = CharTokens(PythonSource(120), Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json"))[..64];
        var clean = model.CrossEntropy(ids, 1, model.Forward(ids, 1)!).Where(float.IsFinite).Average();
        var zeroed = model.CrossEntropy(ids, 1, model.Forward(ids, 1, new ZeroingHook(1, HookSite.Mlp))!).Where(float.IsFinite).Average();
        Assert.True(zeroed > clean + 0.05, $"zero-ablating layer 1's MLP should hurt: clean {clean}, ablated {zeroed}");
    }

    sealed class RecordingHook(Func<int, bool> layers) : IActivationHook
    {
        public Dictionary<(int, HookSite), float[]> Seen { get; } = new();
        public bool Wants(int layer, HookSite site) => layers(layer);
        public void OnActivation(int layer, HookSite site, Span<float> values, int tokens, int width) => Seen[(layer, site)] = values.ToArray();
    }

    sealed class ZeroingHook(int layer, HookSite site) : IActivationHook
    {
        public bool Wants(int l, HookSite s) => l == layer && s == site;
        public void OnActivation(int l, HookSite s, Span<float> values, int tokens, int width) => values.Clear();
    }
}
