using System.Text.Json.Nodes;
using SaeCluster.Compute;
using SaeCluster.Models;

namespace SaeCluster.Models.Tests;

public class CheckpointTests
{
    static readonly int[] Ids = [2, 300, 301, 17, 260, 299, 5, 280, 281, 282, 260, 300, 290, 291, 292, 293, 294, 295, 296, 297];

    [Theory]
    [InlineData(GemmaVersion.Gemma1)]
    [InlineData(GemmaVersion.Gemma2)]
    [InlineData(GemmaVersion.Gemma3)]
    public void RandomCheckpointsLoadAndRun(GemmaVersion version)
    {
        using var tmp = new TempDir();
        var cfg = RandomCheckpoint.TinyConfig(version);
        RandomCheckpoint.Write(tmp["m"], cfg, seed: 1);
        var model = GemmaModel.Load(tmp["m"]);
        Assert.Equal(version, model.Config.Version);
        Assert.Equal(cfg.Sliding, model.Config.Sliding);
        Assert.Equal(cfg.QDim, model.Config.QDim);
        var logits = model.Forward(Ids, 2)!;
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.True(File.Exists(tmp["m/tokenizer.json"]));
    }

    [Fact]
    public void ShardedAndBf16CheckpointsGiveTheSameModel()
    {
        using var tmp = new TempDir();
        var cfg = RandomCheckpoint.TinyConfig(GemmaVersion.Gemma3);
        RandomCheckpoint.Write(tmp["one"], cfg, seed: 4);
        RandomCheckpoint.Write(tmp["three"], cfg, seed: 4, shards: 3);
        RandomCheckpoint.Write(tmp["bf16"], cfg, seed: 4, dtype: SafetensorsDtype.BF16);
        Assert.True(File.Exists(tmp["three/model.safetensors.index.json"]));
        var a = GemmaModel.Load(tmp["one"]).Forward(Ids, 1)!;
        var b = GemmaModel.Load(tmp["three"]).Forward(Ids, 1)!;
        Assert.Equal(a, b);
        var c = GemmaModel.Load(tmp["bf16"]).Forward(Ids, 1)!;
        double err = a.Zip(c, (x, y) => Math.Abs(x - y)).Max(), scale = a.Max(Math.Abs);
        Assert.True(err < 0.05 * scale, $"bf16 weights moved logits by {err} (scale {scale})");
    }

    static void EditConfig(string folder, Action<JsonObject> edit)
    {
        string p = Path.Combine(folder, "config.json");
        var o = JsonNode.Parse(File.ReadAllText(p))!.AsObject();
        edit(o);
        File.WriteAllText(p, o.ToJsonString());
    }

    [Fact]
    public void UnknownModelTypeIsNamed()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp["m"], RandomCheckpoint.TinyConfig(GemmaVersion.Gemma2), 1);
        EditConfig(tmp["m"], o => o["model_type"] = "llama");
        var e = Assert.Throws<ModelFormatException>(() => GemmaModel.Load(tmp["m"]));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("'llama'", e.Message);
    }

    [Fact]
    public void ShapeMismatchNamesTheTensor()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp["m"], RandomCheckpoint.TinyConfig(GemmaVersion.Gemma2), 1);
        EditConfig(tmp["m"], o => o["intermediate_size"] = 100);
        var e = Assert.Throws<ModelFormatException>(() => GemmaModel.Load(tmp["m"]));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
        Assert.Contains("[128, 64]", e.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp["m"], RandomCheckpoint.TinyConfig(GemmaVersion.Gemma2), 1);
        EditConfig(tmp["m"], o => { o["model_type"] = "gemma3_text"; o.Remove("layer_types"); });
        var e = Assert.Throws<ModelFormatException>(() => GemmaModel.Load(tmp["m"]));
        Assert.Contains("self_attn.q_norm.weight", e.Message);
    }

    [Fact]
    public void TruncatedShardIsNamed()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp["m"], RandomCheckpoint.TinyConfig(GemmaVersion.Gemma1), 1);
        string file = tmp["m/model.safetensors"];
        using (var f = new FileStream(file, FileMode.Open)) f.SetLength(f.Length / 2);
        var e = Assert.Throws<ModelFormatException>(() => GemmaModel.Load(tmp["m"]));
        Assert.StartsWith(file, e.Message);
    }

    [Fact]
    public void MultimodalGemma3ConfigReadsItsTextConfig()
    {
        var root = JsonNode.Parse("""
            {"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
             "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
             "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "sliding_window": 1024, "query_pre_attn_scalar": 256}}
            """)!.AsObject();
        var c = GemmaConfig.Parse(root, "config.json");
        Assert.Equal(GemmaVersion.Gemma3, c.Version);
        Assert.Equal("language_model.model.", c.WeightPrefix);
        Assert.Equal(8f, c.RopeScaling);
        Assert.Equal(1f, c.RopeLocalScaling);
        Assert.Equal(1_000_000f, c.RopeTheta);
        Assert.Equal(10_000f, c.RopeLocalTheta);
        Assert.False(c.Sliding[5]);
        Assert.True(c.Sliding[4]);
        Assert.Equal(262_208, c.VocabSize);
    }
}
