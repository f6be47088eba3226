using System.Runtime.InteropServices;
using SaeCluster.Compute;
using Xunit.Abstractions;

namespace SaeCluster.Models.Tests;

/// <summary>
/// Checks <see cref="GemmaModel.Forward"/> against an independent PyTorch forward (Reference/gemma_reference.py,
/// written from Hugging Face transformers' Gemma modeling code) on tiny random checkpoints with every feature of
/// each version on: every hook site of every layer and the logits must agree to 1e-4 relative to the tensor's
/// largest magnitude.
/// </summary>
public class ReferenceForwardTests(ITestOutputHelper output)
{
    const int Rows = 2, T = 13, Window = 5;
    const double Tolerance = 1e-4;

    static string Script => Path.Combine(AppContext.BaseDirectory, "Reference", "gemma_reference.py");

    /// <summary>
    /// The tiny config: GQA (4 query heads on 2 kv heads), Hq·D = 96 ≠ d = 64, a window of 5 below T = 13,
    /// query_pre_attn_scalar ≠ head_dim, four layers mixing local and global attention; Gemma 2 with both
    /// softcaps, Gemma 3 with q/k norms, rope_local_base_freq ≠ rope_theta and linear scaling 2 on global layers.
    /// The tiny model's scores and logits are a few units, so Gemma 2's caps are lowered from 50 and 30 to where
    /// tanh bends them.
    /// </summary>
    static GemmaConfig Config(GemmaVersion version)
    {
        var c = RandomCheckpoint.TinyConfig(version, window: Window);
        return version == GemmaVersion.Gemma2 ? c with { AttnSoftcap = 1.5f, FinalSoftcap = 2f } : c;
    }

    [Theory]
    [InlineData(GemmaVersion.Gemma1)]
    [InlineData(GemmaVersion.Gemma2)]
    [InlineData(GemmaVersion.Gemma3)]
    public void ForwardMatchesThePyTorchReference(GemmaVersion version)
    {
        using var dir = new TempDir();
        string checkpoint = dir["checkpoint"], refOut = dir["reference"];
        var config = Config(version);
        AssertEveryFeatureIsOn(config);
        RandomCheckpoint.Write(checkpoint, config, seed: 20 + (ulong)version);

        var rng = new Random(7 + (int)version);
        var ids = Enumerable.Range(0, Rows * T).Select(_ => rng.Next(config.VocabSize)).ToArray();
        Npy.Write(dir["ids.npy"], new StoredTensor(SafetensorsDtype.I32, [Rows, T], MemoryMarshal.AsBytes(ids.AsSpan()).ToArray()));

        var model = GemmaModel.Load(checkpoint);
        var hook = new CaptureAll();
        var logits = model.Forward(ids, Rows, hook)!;

        DebianTorch.RunFile(Script, checkpoint, dir["ids.npy"], refOut);

        var worst = new List<(string Name, double Error)>();
        void Compare(string name, float[] ours)
        {
            var reference = Npy.Read(Path.Combine(refOut, name + ".npy"));
            var theirs = reference.ToFloat32();
            Assert.True(theirs.Length == ours.Length, $"{name}: the reference has {theirs.Length} values, ours {ours.Length}");
            worst.Add((name, RelativeError(ours, theirs)));
        }
        for (int l = 0; l < config.Layers; l++)
            foreach (var site in Enum.GetValues<HookSite>())
                Compare($"{l}.{site.Name()}", hook.Seen[(l, site)]);
        Compare("logits", logits);

        string report = string.Join("\n", worst.Select(w => $"  {w.Name,-12} {w.Error:E2}{(w.Error > Tolerance ? "  over the limit" : "")}"));
        string title = $"{version}: max|ours − reference| / max|reference| per tensor (limit {Tolerance:E0})";
        output.WriteLine($"{title}\n{report}");
        Assert.True(worst.All(w => w.Error <= Tolerance), $"{title}\n{report}");
    }

    /// <summary>Fails if the tiny config would leave a feature of its version untested.</summary>
    static void AssertEveryFeatureIsOn(GemmaConfig c)
    {
        Assert.True(c.KvHeads < c.Heads && c.QDim != c.Hidden);
        if (c.Version == GemmaVersion.Gemma1) return;
        Assert.True(c.SlidingWindow < T && c.Sliding.Contains(true) && c.Sliding.Contains(false));
        Assert.NotEqual(c.HeadDim, c.QueryPreAttnScalar);
        if (c.Version == GemmaVersion.Gemma2) Assert.True(c.AttnSoftcap != null && c.FinalSoftcap != null);
        else Assert.True(c.RopeLocalTheta != c.RopeTheta && c.RopeScaling != 1f);
    }

    /// <summary>max |a − b| / max |b|.</summary>
    static double RelativeError(float[] ours, float[] reference)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)ours[i] - reference[i]));
            scale = Math.Max(scale, Math.Abs((double)reference[i]));
        }
        return diff / scale;
    }

    /// <summary>Copies every site of every layer.</summary>
    sealed class CaptureAll : IActivationHook
    {
        public Dictionary<(int, HookSite), float[]> Seen { get; } = new();
        public bool Wants(int layer, HookSite site) => true;
        public void OnActivation(int layer, HookSite site, Span<float> values, int tokens, int width) => Seen[(layer, site)] = values.ToArray();
    }
}
