using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae.Tests;

/// <summary>
/// sparsify coders as its <c>save_to_disk</c> writes them (../shared/reference/sae-formats.md §6): a run folder of
/// hookpoint folders, the 2024 cfg without activation / skip_connection / transcode, num_latents 0 meaning
/// d_in × expansion_factor, transcoders (no b_dec on the input); encoded against sparsify's maths written out here.
/// </summary>
public class SparsifySpellingsTests
{
    const int D = 10, Rows = 20;

    static (float[] Enc, float[] EncBias, float[] WDec, float[] BDec) Random(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        float[] G(int len, float s) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = rng.NextGaussian() * s; return a; }
        return (G(n * D, 0.4f), G(n, 0.2f), G(n * D, 0.4f), G(D, 0.3f));
    }

    static void Write(string dir, JsonObject cfg, (float[] Enc, float[] EncBias, float[] WDec, float[] BDec) t, int n)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "cfg.json"), cfg.ToJsonString());
        var w = new SafetensorsWriter();
        w.Metadata["format"] = "pt"; // safetensors.torch.save_model
        w.Add("encoder.weight", t.Enc, [n, D]); w.Add("encoder.bias", t.EncBias, [n]);
        w.Add("W_dec", t.WDec, [n, D]); w.Add("b_dec", t.BDec, [D]);
        w.Write(Path.Combine(dir, "sae.safetensors"));
    }

    // preacts = relu((x − b_dec)·encoder.weightᵀ + encoder.bias); top-k per row; recon = Σ top_acts·W_dec[idx] + b_dec
    static (float[], float[]) Reference((float[] Enc, float[] EncBias, float[] WDec, float[] BDec) t, int n, int k, bool transcode, float[] x)
    {
        var codes = new float[Rows * n];
        var recon = new float[Rows * D];
        for (int r = 0; r < Rows; r++)
        {
            var pre = new double[n];
            for (int j = 0; j < n; j++)
            {
                double s = t.EncBias[j];
                for (int i = 0; i < D; i++) s += (x[r * D + i] - (transcode ? 0 : t.BDec[i])) * t.Enc[j * D + i];
                pre[j] = Math.Max(0, s);
            }
            var top = Enumerable.Range(0, n).OrderByDescending(j => pre[j]).Take(k).ToArray();
            for (int i = 0; i < D; i++)
            {
                double s = t.BDec[i];
                foreach (int j in top) s += pre[j] * t.WDec[j * D + i];
                recon[r * D + i] = (float)s;
            }
            foreach (int j in top) codes[r * n + j] = (float)pre[j];
        }
        return (codes, recon);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheFilesOfEachVersionEncodeAsSparsifyEncodes(bool transcode)
    {
        using var tmp = new TempDir();
        // 2024 (EleutherAI/sae): no activation, skip_connection or transcode fields; num_latents 0 → d_in · expansion_factor
        int n = D * 4;
        var t = Random(n, transcode ? 2 : 1);
        var cfg = new JsonObject { ["expansion_factor"] = 4, ["normalize_decoder"] = true, ["num_latents"] = 0, ["k"] = 5, ["multi_topk"] = false, ["d_in"] = D };
        if (transcode) { cfg["activation"] = "topk"; cfg["skip_connection"] = false; cfg["transcode"] = true; }
        Write(tmp["run/layers.6"], cfg, t, n);
        Write(tmp["two/layers.1"], cfg, t, n);
        Write(tmp["two/layers.2"], cfg, t, n);

        var sae = SaeFiles.Read(tmp["run"]); // the run folder with its one hookpoint
        Assert.Equal(SaeFormat.Sparsify, sae.Format);
        Assert.Equal((SaeArchitecture.TopK, D, n, 5), (sae.Weights.Architecture, sae.Weights.DIn, sae.Weights.DSae, sae.Weights.K));
        Assert.Equal(!transcode, sae.Weights.ApplyBDecToInput);
        Assert.Equal("blocks.6.hook_resid_post", sae.Weights.Provenance.HookName); // layers.6 is hidden_states[7], the output of block 6
        var x = RandomSae.Inputs(Rows, 3, D);
        var (codes, recon) = RandomSae.Encode(sae.Weights, x, Rows);
        var (ec, er) = Reference(t, n, 5, transcode, x);
        RandomSae.Same(ec, codes, 1e-5, "codes");
        RandomSae.Same(er, recon, 1e-5, "recon");

        var e = Assert.Throws<DataException>(() => SaeFiles.Read(tmp["two"]));
        Assert.Contains("2 hookpoints (layers.1, layers.2); pass one of them", e.Message);
    }

    [Theory]
    [InlineData("skip_connection", true, "skip_connection: coders with a skip connection")]
    [InlineData("activation", "groupmax", "activation: 'groupmax' is not supported")]
    public void WhatWeDoNotReadIsSaid(string key, object value, string message)
    {
        using var tmp = new TempDir();
        var cfg = new JsonObject { ["activation"] = "topk", ["expansion_factor"] = 4, ["num_latents"] = 40, ["k"] = 5, ["d_in"] = D };
        cfg[key] = JsonValue.Create(value);
        Write(tmp["layers.0"], cfg, Random(40, 4), 40);
        var e = Assert.Throws<DataException>(() => SaeFiles.Read(tmp["layers.0"]));
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains(message, e.Message);
    }
}
