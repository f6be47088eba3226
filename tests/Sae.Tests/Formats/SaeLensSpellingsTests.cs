using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae.Tests;

/// <summary>
/// SAELens folders in the spellings each release wrote (../shared/reference/sae-formats.md §2.3–2.5), written here
/// the way SAELens writes them (json.dump of the cfg, save_file of the tensors), and encoded against SAELens' maths
/// written out plainly in <see cref="Reference"/>.
/// </summary>
public class SaeLensSpellingsTests
{
    const int D = 12, N = 36, Rows = 25;

    sealed record Tensors(float[] WEnc, float[] BEnc, float[] WDec, float[] BDec, float[] Threshold, float[] Scaling);

    static Tensors Random(int seed)
    {
        var rng = new Rng((ulong)seed);
        float[] G(int n, float s) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = rng.NextGaussian() * s; return a; }
        return new Tensors(G(D * N, 0.4f), G(N, 0.2f), G(N * D, 0.5f), G(D, 0.3f), G(N, 1).Select(v => MathF.Abs(v) * 0.3f).ToArray(),
            G(N, 1).Select(v => 0.5f + MathF.Abs(v)).ToArray());
    }

    static void WriteFolder(string dir, JsonObject cfg, Tensors t, bool threshold = false, string? scalingName = null,
        SafetensorsDtype dtype = SafetensorsDtype.F32)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "cfg.json"), cfg.ToJsonString());
        var w = new SafetensorsWriter();
        w.Add("W_enc", t.WEnc, [D, N], dtype); w.Add("b_enc", t.BEnc, [N], dtype);
        w.Add("W_dec", t.WDec, [N, D], dtype); w.Add("b_dec", t.BDec, [D], dtype);
        if (threshold) w.Add("threshold", t.Threshold, [N], dtype);
        if (scalingName != null) w.Add(scalingName, t.Scaling, [N], dtype);
        w.Write(Path.Combine(dir, "sae_weights.safetensors"));
    }

    /// <summary>SAELens' encode and decode, as the spec writes them, in double loops.</summary>
    static (float[] Codes, float[] Recon) Reference(Tensors t, float[] x, string arch, bool bDecIn, int k = 0, bool rescale = false,
        string norm = "none", bool scaling = false)
    {
        var codes = new float[Rows * N];
        var recon = new float[Rows * D];
        var n = new double[N];
        for (int j = 0; j < N; j++) { double s = 0; for (int i = 0; i < D; i++) s += (double)t.WDec[j * D + i] * t.WDec[j * D + i]; n[j] = Math.Sqrt(s); }
        for (int r = 0; r < Rows; r++)
        {
            var xin = new double[D];
            for (int i = 0; i < D; i++) xin[i] = x[r * D + i];
            double c = 1, mu = 0, std = 1;
            if (norm == "constant_norm_rescale") { c = Math.Sqrt(D) / Math.Sqrt(xin.Sum(v => v * v)); for (int i = 0; i < D; i++) xin[i] *= c; }
            if (norm == "layer_norm")
            {
                mu = xin.Average();
                for (int i = 0; i < D; i++) xin[i] -= mu;
                std = Math.Sqrt(xin.Sum(v => v * v) / (D - 1));
                for (int i = 0; i < D; i++) xin[i] /= std + 1e-5;
            }
            if (bDecIn) for (int i = 0; i < D; i++) xin[i] -= t.BDec[i];
            var pre = new double[N];
            for (int j = 0; j < N; j++) { double s = t.BEnc[j]; for (int i = 0; i < D; i++) s += xin[i] * t.WEnc[i * N + j]; pre[j] = s; }
            var f = new double[N];
            if (arch == "standard") for (int j = 0; j < N; j++) f[j] = Math.Max(0, pre[j]);
            else if (arch == "jumprelu") for (int j = 0; j < N; j++) f[j] = pre[j] > t.Threshold[j] ? Math.Max(0, pre[j]) : 0;
            else
            {
                var h = pre.Select((v, j) => rescale ? v * n[j] : v).ToArray();
                foreach (int j in Enumerable.Range(0, N).OrderByDescending(j => h[j]).Take(k)) f[j] = Math.Max(0, h[j]);
            }
            for (int j = 0; j < N; j++) codes[r * N + j] = (float)f[j];
            for (int i = 0; i < D; i++)
            {
                double s = t.BDec[i];
                for (int j = 0; j < N; j++)
                {
                    double g = f[j];
                    if (rescale) g /= n[j];
                    if (scaling) g *= t.Scaling[j];
                    s += g * t.WDec[j * D + i];
                }
                if (norm == "constant_norm_rescale") s /= c;
                if (norm == "layer_norm") s = s * std + mu;
                recon[r * D + i] = (float)s;
            }
        }
        return (codes, recon);
    }

    static JsonObject V6(string arch, bool bDecIn, string norm = "none") => new()
    {
        ["d_in"] = D, ["d_sae"] = N, ["dtype"] = "float32", ["device"] = "cpu", ["apply_b_dec_to_input"] = bDecIn,
        ["normalize_activations"] = norm, ["reshape_activations"] = "none",
        ["metadata"] = new JsonObject
        {
            ["sae_lens_version"] = "6.18.0", ["sae_lens_training_version"] = "6.18.0", ["model_name"] = "gemma-2-2b",
            ["hook_name"] = "blocks.7.hook_mlp_out", ["hook_head_index"] = null, ["context_size"] = 1024, ["prepend_bos"] = true,
            ["dataset_path"] = "monology/pile-uncopyrighted",
        },
        ["architecture"] = arch,
    };

    void Check(JsonObject cfg, Tensors t, SaeArchitecture arch, (float[] Codes, float[] Recon) expected, bool threshold = false,
        string? scalingName = null, SafetensorsDtype dtype = SafetensorsDtype.F32, double tol = 1e-5, Action<LoadedSae>? more = null)
    {
        using var tmp = new TempDir();
        WriteFolder(tmp["sae"], cfg, t, threshold, scalingName, dtype);
        var sae = SaeFiles.Read(tmp["sae"]);
        Assert.Equal(SaeFormat.SaeLens, sae.Format);
        Assert.Equal(arch, sae.Weights.Architecture);
        var x = RandomSae.Inputs(Rows, 4, D);
        var (codes, recon) = RandomSae.Encode(sae.Weights, x, Rows);
        RandomSae.Same(expected.Codes, codes, tol, "codes");
        RandomSae.Same(expected.Recon, recon, tol, "recon");
        more?.Invoke(sae);
    }

    static float[] X => RandomSae.Inputs(Rows, 4, D);

    [Fact]
    public void V6StandardJumpReluAndTopK()
    {
        var t = Random(1);
        Check(V6("standard", true), t, SaeArchitecture.Relu, Reference(t, X, "standard", true), more: s =>
        {
            Assert.Equal("blocks.7.hook_mlp_out", s.Weights.Provenance.HookName);
            Assert.Equal(7, s.Weights.Provenance.Layer);
            Assert.Equal("mlp", s.Weights.Provenance.Site);
            Assert.Equal(1024, s.Weights.Provenance.ContextSize);
            Assert.Equal("monology/pile-uncopyrighted", s.Weights.Provenance.DatasetPath);
            Assert.Contains("v6", s.Detail);
        });
        Check(V6("jumprelu", false), t, SaeArchitecture.JumpRelu, Reference(t, X, "jumprelu", false), threshold: true);
        var topk = V6("topk", true); topk["k"] = 7; topk["rescale_acts_by_decoder_norm"] = false;
        Check(topk, t, SaeArchitecture.TopK, Reference(t, X, "topk", true, k: 7), more: s => Assert.Equal(7, s.Weights.K));
    }

    [Fact]
    public void TopKRescaledByDecoderNormIsFoldedIntoTheWeights()
    {
        var t = Random(2); // decoder rows are not unit norm, so the rescale matters
        var cfg = V6("topk", false); cfg["k"] = 5; cfg["rescale_acts_by_decoder_norm"] = true;
        Check(cfg, t, SaeArchitecture.TopK, Reference(t, X, "topk", false, k: 5, rescale: true), more: s =>
        {
            Assert.True(s.Weights.HasUnitDecoderRows());
            Assert.Contains("rescale_acts_by_decoder_norm folded", s.Detail);
        });
    }

    [Theory]
    [InlineData("constant_norm_rescale")]
    [InlineData("layer_norm")]
    [InlineData("expected_average_only_in")]
    public void InputNormalisations(string norm)
    {
        var t = Random(3);
        Check(V6("standard", true, norm), t, SaeArchitecture.Relu, Reference(t, X, "standard", true, norm: norm == "expected_average_only_in" ? "none" : norm));
    }

    [Fact]
    public void TheCfgDtypeRoundsTheWeightsAsTheLoaderCastsThem()
    {
        var t = Random(4);
        var cfg = V6("standard", false); cfg["dtype"] = "torch.bfloat16";
        var rounded = new Tensors(R(t.WEnc), R(t.BEnc), R(t.WDec), R(t.BDec), t.Threshold, t.Scaling);
        Check(cfg, t, SaeArchitecture.Relu, Reference(rounded, X, "standard", false), more: s => Assert.Equal(SafetensorsDtype.BF16, s.Weights.StoredDtype));
        static float[] R(float[] a) => a.Select(v => Bf16.ToSingle(Bf16.FromSingle(v))).ToArray();
    }

    [Fact]
    public void V3_0Flat()
    {
        var t = Random(5);
        var cfg = new JsonObject
        {
            ["d_in"] = D, ["d_sae"] = N, ["dtype"] = "float32", ["device"] = "cpu", ["model_name"] = "gpt2-small",
            ["hook_name"] = "blocks.3.hook_resid_pre", ["hook_layer"] = 3, ["hook_head_index"] = null, ["activation_fn_str"] = "relu",
            ["apply_b_dec_to_input"] = false, ["finetuning_scaling_factor"] = false, ["sae_lens_training_version"] = "3.0.0",
            ["prepend_bos"] = true, ["dataset_path"] = "Skylion007/openwebtext", ["context_size"] = 128, ["normalize_activations"] = false,
        };
        Check(cfg, t, SaeArchitecture.Relu, Reference(t, X, "standard", false), more: s =>
        {
            Assert.Contains("legacy", s.Detail);
            Assert.Equal(ActivationNormalization.None, s.Weights.Normalization);
            Assert.Equal("blocks.3.hook_resid_pre", s.Weights.Provenance.HookName);
            Assert.Equal("gpt2-small", s.Weights.Provenance.ModelName);
        });
    }

    [Fact]
    public void PreV3NamesAndTheBoolNormalisation()
    {
        var t = Random(6);
        var cfg = new JsonObject
        {
            ["d_in"] = D, ["d_sae"] = N, ["hook_point"] = "blocks.2.hook_resid_post", ["hook_point_layer"] = 2,
            ["activation_fn"] = "relu", ["normalize_activations"] = true, // true → expected_average_only_in: identity on disk
        };
        // apply_b_dec_to_input absent → true
        Check(cfg, t, SaeArchitecture.Relu, Reference(t, X, "standard", true), more: s =>
        {
            Assert.Equal("blocks.2.hook_resid_post", s.Weights.Provenance.HookName);
            Assert.Equal(ActivationNormalization.ExpectedAverageOnlyIn, s.Weights.Normalization);
            Assert.True(s.Weights.ApplyBDecToInput);
        });
    }

    [Fact]
    public void V3_10TopKAsAnActivationWithItsK()
    {
        var t = Random(7);
        var cfg = new JsonObject
        {
            ["architecture"] = "standard", ["d_in"] = D, ["d_sae"] = N, ["dtype"] = "float32", ["hook_name"] = "blocks.1.hook_resid_post",
            ["hook_layer"] = 1, ["activation_fn_str"] = "topk", ["activation_fn_kwargs"] = new JsonObject { ["k"] = 4 },
            ["apply_b_dec_to_input"] = true, ["finetuning_scaling_factor"] = false, ["sae_lens_training_version"] = "3.10.0",
            ["normalize_activations"] = "none",
        };
        Check(cfg, t, SaeArchitecture.TopK, Reference(t, X, "topk", true, k: 4), more: s => Assert.Equal(4, s.Weights.K));
    }

    [Fact]
    public void V5_11FullFlatSetWithJumpReluAndScalingFactor()
    {
        var t = Random(8);
        var cfg = new JsonObject
        {
            ["architecture"] = "jumprelu", ["d_in"] = D, ["d_sae"] = N, ["dtype"] = "float32", ["device"] = "cpu",
            ["model_name"] = "gemma-2-2b", ["hook_name"] = "blocks.12.hook_resid_post", ["hook_layer"] = 12, ["hook_head_index"] = null,
            ["activation_fn_str"] = "relu", ["activation_fn_kwargs"] = new JsonObject(), ["apply_b_dec_to_input"] = false,
            ["finetuning_scaling_factor"] = true, ["sae_lens_training_version"] = "5.11.0", ["prepend_bos"] = true,
            ["dataset_path"] = "monology/pile-uncopyrighted", ["dataset_trust_remote_code"] = true, ["context_size"] = 1024,
            ["normalize_activations"] = "none", ["neuronpedia_id"] = "gemma-2-2b/12-gemmascope-res-16k",
            ["model_from_pretrained_kwargs"] = new JsonObject(), ["seqpos_slice"] = new JsonArray((JsonNode?)null),
        };
        Check(cfg, t, SaeArchitecture.JumpRelu, Reference(t, X, "jumprelu", false, scaling: true), threshold: true, scalingName: "finetuning_scaling_factor",
            more: s => Assert.Contains("finetuning_scaling_factor folded", s.Detail));
        // a scaling_factor tensor that is all ones is dropped
        var ones = t with { Scaling = Enumerable.Repeat(1f, N).ToArray() };
        cfg["finetuning_scaling_factor"] = false;
        Check(cfg, ones, SaeArchitecture.JumpRelu, Reference(ones, X, "jumprelu", false), threshold: true, scalingName: "scaling_factor");
    }

    [Fact]
    public void ATrainingCheckpointsExtraKeysAreIgnored()
    {
        var t = Random(9);
        var cfg = V6("jumprelu", true);
        cfg["decoder_init_norm"] = 0.1; cfg["l0_coefficient"] = 5.0; cfg["jumprelu_bandwidth"] = 0.001;
        Check(cfg, t, SaeArchitecture.JumpRelu, Reference(t, X, "jumprelu", true), threshold: true);
    }

    [Fact]
    public void TheCfgWeWriteIsV6WithTheHookInTransformerLensNaming()
    {
        var w = RandomSae.Make(SaeArchitecture.TopK, 1) with { Provenance = new SaeProvenance("google/gemma-2-2b", "blocks.4.attn.hook_z", 1024, "fineweb") };
        using var tmp = new TempDir();
        SaeFiles.Write(w, SaeFormat.SaeLens, tmp["s"], overwrite: false);
        var cfg = JsonNode.Parse(File.ReadAllText(tmp["s/cfg.json"]))!.AsObject();
        Assert.Equal("topk", (string?)cfg["architecture"]);
        Assert.Equal(RandomSae.K, (int?)cfg["k"]);
        Assert.False((bool?)cfg["rescale_acts_by_decoder_norm"]);
        Assert.Equal("6.18.0", (string?)cfg["metadata"]!["sae_lens_version"]);
        Assert.Equal("blocks.4.attn.hook_z", (string?)cfg["metadata"]!["hook_name"]);
        Assert.Equal("model.layers.4.self_attn.o_proj (input)", (string?)cfg["metadata"]!["hf_hook_name"]);
        Assert.Equal(1024, (int?)cfg["metadata"]!["context_size"]);
        Assert.Equal("fineweb", (string?)cfg["metadata"]!["dataset_path"]);
        Assert.Null(cfg["hook_layer"]); // v6 has none
        using var f = SafetensorsFile.Open(tmp["s/sae_weights.safetensors"]);
        Assert.Empty(f.Metadata); // save_file writes no __metadata__
        Assert.Equal(["W_dec", "W_enc", "b_dec", "b_enc"], f.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
    }
}
