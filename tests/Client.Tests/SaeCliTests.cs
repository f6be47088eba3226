using System.Text.Json.Nodes;
using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Client.Tests;

/// <summary><c>saectl train --formats</c> and <c>saectl sae info | convert | encode</c>, run as a user runs them.</summary>
public sealed class SaeCliTests : IClassFixture<SaeCliTests.Trained>
{
    /// <summary>Activation shards and a TopK SAE trained on them, written as SAELens plus dictionary_learning and sparsify.</summary>
    public sealed class Trained : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Shard => Directory.GetFiles(Dir["acts"], "*.safetensors").Order().First();
        public Trained()
        {
            using var truth = new SyntheticFeatures(32, 64, 3, seed: 4);
            ShardWriter.WriteFromSource(truth, Dir["acts"], 2, 4096);
            var r = Saectl.Run("train", "--data", Dir["acts"], "--out", Dir["topk"], "--arch", "topk", "--width", "64", "--k", "3",
                "--tokens", "40960", "--batch", "1024", "--eval-tokens", "4096", "--formats", "dictlearn, sparsify", "--quiet");
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
        public void Dispose() => Dir.Dispose();
    }

    readonly Trained _t;
    public SaeCliTests(Trained t) => _t = t;

    static JsonObject Info(string path)
    {
        var r = Saectl.Run("sae", "info", path, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return JsonNode.Parse(r.Stdout)!.AsObject();
    }

    static float[] Encode(string sae, string input, string output, params string[] more)
    {
        var r = Saectl.Run(["sae", "encode", "--sae", sae, "--input", input, "--out", output, "--quiet", .. more]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("rows through", r.Stdout);
        if (output.EndsWith(".npz"))
        {
            var npz = Npz.Read(output);
            Assert.Equal(["codes", "recon"], npz.Keys);
            return [.. npz["codes"].ToFloat32(), .. npz["recon"].ToFloat32()];
        }
        using var f = SafetensorsFile.Open(output);
        return [.. f.ReadAllAsFloat("codes"), .. f.ReadAllAsFloat("recon")];
    }

    [Fact]
    public void TrainWritesEveryFormatAskedForAndInfoReadsEach()
    {
        string root = _t.Dir["topk"];
        foreach (var f in new[] { "cfg.json", "sae_weights.safetensors", "sparsity.safetensors", "metrics.json", "train_log.jsonl", "dictlearn/ae.pt", "dictlearn/config.json", "sparsify/sae/cfg.json", "sparsify/sae/sae.safetensors" })
            Assert.True(File.Exists(Path.Combine(root, f)), f);
        Assert.False(Directory.Exists(Path.Combine(root, "gemmascope"))); // not asked for (and TopK has no Gemma Scope form)

        var saelens = Info(root);
        Assert.Equal("saelens", (string?)saelens["format"]);
        Assert.Equal("topk", (string?)saelens["architecture"]);
        Assert.Equal(32, (int?)saelens["d_in"]);
        Assert.Equal(64, (int?)saelens["d_sae"]);
        Assert.Equal(3, (int?)saelens["k"]);
        Assert.Equal("F32", (string?)saelens["dtype"]);
        Assert.Equal("synthetic", (string?)saelens["model"]);
        Assert.StartsWith("f = top-3 of relu(pre) per token", (string?)saelens["encoding"]);

        var dl = Info(Path.Combine(root, "dictlearn"));
        Assert.Equal("dictlearn", (string?)dl["format"]);
        Assert.Contains("AutoEncoderTopK", (string?)dl["format_detail"]);
        Assert.Equal(3, (int?)dl["k"]);
        var sp = Info(Path.Combine(root, "sparsify"));
        Assert.Equal("sparsify", (string?)sp["format"]);
        Assert.Equal(3, (int?)sp["k"]);

        var text = Saectl.Run("sae", "info", Path.Combine(root, "dictlearn", "ae.pt"));
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains("dictionary_learning: AutoEncoderTopK", text.Stdout);
        Assert.Contains("d_sae", text.Stdout);
    }

    [Fact]
    public void EveryFormatEncodesAShardTheSame()
    {
        string root = _t.Dir["topk"];
        using var tmp = new TempDir();
        var reference = Encode(root, _t.Shard, tmp["saelens.npz"]);
        Assert.Equal(4096 * 64 + 4096 * 32, reference.Length); // the first 4096-row shard: codes [4096, 64], recon [4096, 32]
        foreach (var (path, name) in new[] { (Path.Combine(root, "dictlearn"), "dl"), (Path.Combine(root, "sparsify"), "sp") })
        {
            var other = Encode(path, _t.Shard, tmp[name + ".safetensors"]);
            Assert.True(Relative(other, reference) < 1e-6, $"{name}: {Relative(other, reference)}");
        }
        // the same through a converted copy, and from .npy input
        var conv = Saectl.Run("sae", "convert", Path.Combine(root, "sparsify"), "--to", "saelens", "--out", tmp["back"]);
        Assert.True(conv.ExitCode == 0, conv.Stderr);
        Assert.Contains("sparsify topk [32 → 64] → SAELens", conv.Stdout);
        using (var shard = SafetensorsFile.Open(_t.Shard))
            Npy.Write(tmp["x.npy"], StoredTensor.FromFloat32(shard.ReadAllAsFloat("acts"), shard.Get("acts").Shape));
        Assert.True(Relative(Encode(tmp["back"], tmp["x.npy"], tmp["back.npz"]), reference) < 1e-6);
    }

    [Fact]
    public void DictionaryLearningsMathsOnOurFileAgreeWithOurEncode()
    {
        using var tmp = new TempDir();
        using (var shard = SafetensorsFile.Open(_t.Shard))
        {
            var acts = shard.ReadAllAsFloat("acts");
            Npy.Write(tmp["x.npy"], StoredTensor.FromFloat32(acts.AsSpan(0, 500 * 32), [500, 32]));
        }
        string dl = Path.Combine(_t.Dir["topk"], "dictlearn");
        var ours = Encode(dl, tmp["x.npy"], tmp["ours.npz"]);
        DebianTorch.RunFile(Path.Combine(AppContext.BaseDirectory, "Formats", "library_files.py"), "encode", "dictlearn", dl, tmp["x.npy"], tmp["lib"]);
        float[] lib = [.. Npy.Read(tmp["lib.codes.npy"]).ToFloat32(), .. Npy.Read(tmp["lib.recon.npy"]).ToFloat32()];
        Assert.True(Relative(ours, lib) < 1e-5, $"{Relative(ours, lib)}");
    }

    [Fact]
    public void BadInputFailsWithOneLineAndWritesNothing()
    {
        using var tmp = new TempDir();
        string root = _t.Dir["topk"];
        var missing = Saectl.Run("sae", "info", tmp["nothing"]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no such file or folder", missing.Stderr);

        var noForm = Saectl.Run("sae", "convert", root, "--to", "gemmascope", "--out", tmp["gs"]);
        Assert.Equal(2, noForm.ExitCode);
        Assert.Contains("--to", noForm.Stderr);
        Assert.Contains("no Gemma Scope form", noForm.Stderr);
        Assert.False(Directory.Exists(tmp["gs"]));

        Assert.Equal("dictlearn", (string?)JsonNode.Parse(Saectl.Run("sae", "info", Path.Combine(root, "dictlearn", "config.json"), "--format", "dictlearn", "--json").Stdout)!["format"]);
        var wrongFormat = Saectl.Run("sae", "info", root, "--format", "gemmascope");
        Assert.Equal(1, wrongFormat.ExitCode);
        Assert.Contains("params.npz: not found (a Gemma Scope SAE needs it)", wrongFormat.Stderr);

        var badTo = Saectl.Run("sae", "convert", root, "--to", "onnx", "--out", tmp["x"]);
        Assert.Equal(2, badTo.ExitCode);
        Assert.Contains("unknown SAE format 'onnx'", badTo.Stderr);

        Npy.Write(tmp["wide.npy"], StoredTensor.FromFloat32(new float[10 * 33], [10, 33]));
        var wide = Saectl.Run("sae", "encode", "--sae", root, "--input", tmp["wide.npy"], "--out", tmp["codes.npz"]);
        Assert.Equal(1, wide.ExitCode);
        Assert.Contains("wide.npy: activations have shape [10, 33]; the SAE takes [N, 32]", wide.Stderr);
        Assert.False(File.Exists(tmp["codes.npz"]));
        Assert.Single(wide.Stderr.Trim().Split('\n'));

        var formats = Saectl.Run("train", "--data", _t.Dir["acts"], "--out", tmp["t"], "--arch", "topk", "--width", "64", "--k", "3",
            "--tokens", "40960", "--formats", "gemmascope");
        Assert.Equal(2, formats.ExitCode);
        Assert.Contains("--formats: gemmascope fits none of the SAEs", formats.Stderr);
        Assert.False(Directory.Exists(tmp["t"]));
    }

    static double Relative(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double d = 0, n = 0;
        for (int i = 0; i < a.Length; i++) { double e = a[i] - b[i]; d += e * e; n += (double)b[i] * b[i]; }
        return Math.Sqrt(d / n);
    }
}
