using System.Runtime.CompilerServices;
using SaeCluster.Compute;
using SaeCluster.Models;

namespace SaeCluster.Sae.Tests;

/// <summary>
/// The evaluation on the trained tiny Gemma 2 (models/tiny-gemma2-code) against what is known: an SAE that
/// reconstructs perfectly changes nothing (delta 0, score 1, KL 0), one that reconstructs zero is the zero ablation
/// (score 0), and every number of a random SAE agrees with a plain reference computation written here.
/// </summary>
public sealed class SpliceEvaluationTests : IClassFixture<SpliceEvaluationTests.Model>
{
    public sealed class Model
    {
        public GemmaModel Gemma { get; }
        public GemmaTokenizer Tokenizer { get; }
        public int[][] Contexts { get; }
        public Model()
        {
            string dir = Path.Combine(Root(), "models", "tiny-gemma2-code");
            Gemma = GemmaModel.Load(dir);
            Tokenizer = GemmaTokenizer.Load(Path.Combine(dir, "tokenizer.json"));
            var py = Directory.GetDirectories("/usr/lib", "python3*").Order().First(d => File.Exists(Path.Combine(d, "json", "decoder.py")));
            var corpus = CorpusDocuments.FromPatterns([Path.Combine(py, "json", "*.py")]);
            Contexts = HeldOutText.Contexts(corpus, Tokenizer, Gemma.Config, 64, 6 * 64).ToArray();
        }
        static string Root([CallerFilePath] string p = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(p)!, "..", "..", ".."));
    }

    readonly Model _m;
    public SpliceEvaluationTests(Model m) => _m = m;

    static readonly EvalOptions Options = new() { Tokens = 6 * 64, BatchContexts = 4, SampleLatents = 4, ExtremeLatents = 2, ExamplesPerLatent = 3, Window = 8 };

    EvalSae At(SaeWeights w, int layer, string site) =>
        EvalSae.For(new LoadedSae(w with { Provenance = new SaeProvenance(HookName: SaeProvenance.HookNameFor(layer, site)) }, SaeFormat.SaeLens, "/tmp/x", ""), _m.Gemma.Config);

    SaeEvalResult Evaluate(EvalSae sae, EvalOptions? o = null) => SpliceEvaluation.Run(_m.Gemma, _m.Contexts, [sae], o ?? Options, id => $"<{id}>").Single();

    // relu([x, −x])·[I; −I] = x: a perfect ReLU SAE of width 2·d
    static SaeWeights Perfect(int d)
    {
        var wEnc = new float[d * 2 * d];
        var wDec = new float[2 * d * d];
        for (int i = 0; i < d; i++)
        {
            wEnc[i * 2 * d + i] = 1; wEnc[i * 2 * d + d + i] = -1;
            wDec[i * d + i] = 1; wDec[(d + i) * d + i] = -1;
        }
        return new SaeWeights(SaeArchitecture.Relu, d, 2 * d, 0, wEnc, new float[2 * d], wDec, new float[d], null);
    }

    [Theory]
    [InlineData(1, "res")]
    [InlineData(2, "mlp")]
    [InlineData(0, "att")]
    [InlineData(3, "attn_out")]
    public void APerfectReconstructionChangesNothing(int layer, string site)
    {
        HookSites.TryParse(site, out var s);
        var r = Evaluate(At(Perfect(s.Width(_m.Gemma.Config)), layer, site));
        Assert.True(Math.Abs(r.DeltaLoss) < 1e-4, $"delta {r.DeltaLoss}");
        Assert.True(Math.Abs(r.CeLossScore - 1) < 1e-3, $"score {r.CeLossScore}");
        Assert.True(r.Kl < 1e-5, $"KL {r.Kl}");
        Assert.True(r.Fvu < 1e-9, $"FVU {r.Fvu}");
        Assert.True(r.CeZero > r.CeClean + 0.05, $"zero ablation {r.CeZero} vs clean {r.CeClean}"); // the site matters
    }

    [Fact]
    public void AZeroReconstructionIsTheZeroAblation()
    {
        int d = _m.Gemma.Config.Hidden;
        var zero = new SaeWeights(SaeArchitecture.Relu, d, 8, 0, new float[d * 8], new float[8], new float[8 * d], new float[d], null);
        var r = Evaluate(At(zero, 1, "res"));
        Assert.Equal(r.CeZero, r.CeSae, 5);
        Assert.True(Math.Abs(r.CeLossScore) < 1e-5, $"score {r.CeLossScore}");
        Assert.True(r.Fvu > 1, $"FVU {r.Fvu}"); // Σ‖x‖² / Σ‖x − x̄‖²: the residual stream's mean is not zero
        Assert.Equal(0.0, r.L0);
        Assert.Equal(1.0, r.DeadFraction);
    }

    [Fact]
    public void ARandomSaeMatchesAPlainReference()
    {
        var cfg = _m.Gemma.Config;
        int d = cfg.Hidden, n = 48, layer = 2, T = 64;
        var w = MakeTopK(d, n);
        var r = Evaluate(At(w, layer, "res"));

        // reference: per context, clean and spliced forwards through a hook of this test's own, CE and KL in double
        double ce = 0, ceS = 0, ceZ = 0, kl = 0, err = 0; long lossTokens = 0, tokens = 0, active = 0;
        var xs = new List<double[]>();
        foreach (var ctx in _m.Contexts)
        {
            bool Special(int id) => id == cfg.BosId || id == cfg.EosId || id == cfg.PadId;
            var grab = new Grab(layer);
            var clean = _m.Gemma.Forward(ctx, 1, grab)!;
            var x = grab.Values!;
            var codes = new float[T * n]; var recon = new float[T * d];
            w.Encode(x, T, codes, recon);
            var spliced = _m.Gemma.Forward(ctx, 1, new Put(layer, recon, ctx.Select(id => !Special(id)).ToArray()))!;
            var zeroed = _m.Gemma.Forward(ctx, 1, new Put(layer, new float[T * d], ctx.Select(id => !Special(id)).ToArray()))!;
            for (int t = 0; t < T; t++)
            {
                if (Special(ctx[t])) continue;
                tokens++;
                for (int i = 0; i < d; i++) { double e = x[t * d + i] - recon[t * d + i]; err += e * e; }
                xs.Add(x.AsSpan(t * d, d).ToArray().Select(v => (double)v).ToArray());
                for (int j = 0; j < n; j++) if (codes[t * n + j] != 0) active++;
                if (t == T - 1 || ctx[t + 1] == cfg.PadId) continue;
                lossTokens++;
                var (lc, ls, lz) = (LogSoftmax(clean, t, cfg.VocabSize), LogSoftmax(spliced, t, cfg.VocabSize), LogSoftmax(zeroed, t, cfg.VocabSize));
                ce -= lc[ctx[t + 1]]; ceS -= ls[ctx[t + 1]]; ceZ -= lz[ctx[t + 1]];
                for (int v = 0; v < cfg.VocabSize; v++) kl += Math.Exp(lc[v]) * (lc[v] - ls[v]);
            }
        }
        var mean = Enumerable.Range(0, d).Select(i => xs.Average(x => x[i])).ToArray();
        double total = xs.Sum(x => x.Select((v, i) => (v - mean[i]) * (v - mean[i])).Sum());
        ce /= lossTokens; ceS /= lossTokens; ceZ /= lossTokens; kl /= lossTokens;

        Assert.Equal(tokens, (long)r.Eval["tokens"]!);
        Assert.Equal(lossTokens, (long)r.Eval["loss_tokens"]!);
        Assert.Equal(6 * 64 - tokens, (long)r.Eval["special_positions_skipped"]!);
        Assert.Equal(active / (double)tokens, r.L0, 9);
        Assert.Equal(err / total, r.Fvu, 5);
        Assert.Equal(ce, r.CeClean, 4);
        Assert.Equal(ceS, r.CeSae, 4);
        Assert.Equal(ceZ, r.CeZero, 4);
        Assert.Equal(ceS - ce, r.DeltaLoss, 4);
        Assert.Equal((ceZ - ceS) / (ceZ - ce), r.CeLossScore, 4);
        Assert.Equal(kl, r.Kl, 4);
        Assert.True(r.DeltaLoss > 0, "a k-4 SAE of a random decoder costs loss");

        // by position: the buckets partition the counted tokens; their deltas average to the whole
        var buckets = r.Eval["by_position"]!.AsArray();
        Assert.Equal(tokens, buckets.Sum(b => (long)b!["tokens"]!));
        Assert.Equal([1, 2, 4, 8, 16, 32], buckets.Select(b => (int)b!["from"]!));
        // latent browser: the densest latent's top example is its largest activation, at max_at
        var densest = r.Latents["latents"]!.AsArray().First(l => (string)l!["kind"]! == "densest")!;
        var ex = densest["examples"]!.AsArray()[0]!;
        Assert.Equal((double)ex["max"]!, (double)ex["activations"]![(int)ex["max_at"]!]!, 3);
        Assert.Equal(8, ex["tokens"]!.AsArray().Count);
        Assert.StartsWith("<", (string)ex["tokens"]![0]!);
    }

    [Fact]
    public void SpecialPositionsCountOnlyWhenAskedFor()
    {
        var sae = At(MakeTopK(_m.Gemma.Config.Hidden, 48), 1, "res");
        var without = Evaluate(sae);
        var with = Evaluate(sae, Options with { IncludeSpecial = true });
        Assert.Equal(6 * 64, (long)with.Eval["tokens"]!);
        Assert.Equal(0, (long)with.Eval["special_positions_skipped"]!);
        Assert.True((long)without.Eval["special_positions_skipped"]! >= 6); // a BOS per context at least
        Assert.Equal(6 * 64, (long)without.Eval["tokens"]! + (long)without.Eval["special_positions_skipped"]!);
        Assert.NotEqual(without.CeSae, with.CeSae);
    }

    SaeWeights MakeTopK(int d, int n)
    {
        var rng = new Rng(3);
        float[] G(int len, float s) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = rng.NextGaussian() * s; return a; }
        return new SaeWeights(SaeArchitecture.TopK, d, n, 4, G(d * n, 0.1f), G(n, 0.1f), G(n * d, 0.3f), G(d, 0.1f), null);
    }

    static double[] LogSoftmax(float[] logits, int t, int vocab)
    {
        var row = logits.AsSpan(t * vocab, vocab);
        double max = row.ToArray().Max(), sum = 0;
        foreach (float z in row) sum += Math.Exp(z - max);
        return row.ToArray().Select(z => z - max - Math.Log(sum)).ToArray();
    }

    sealed class Grab(int layer) : IActivationHook
    {
        public float[]? Values;
        public bool Wants(int l, HookSite s) => l == layer && s == HookSite.Res;
        public void OnActivation(int l, HookSite s, Span<float> values, int tokens, int width) => Values = values.ToArray();
    }

    sealed class Put(int layer, float[] with, bool[] where) : IActivationHook
    {
        public bool Wants(int l, HookSite s) => l == layer && s == HookSite.Res;
        public void OnActivation(int l, HookSite s, Span<float> values, int tokens, int width)
        {
            for (int t = 0; t < tokens; t++) if (where[t]) with.AsSpan(t * width, width).CopyTo(values.Slice(t * width, width));
        }
    }
}
