using System.Runtime.CompilerServices;
using SaeCluster.Compute;
using SaeCluster.Grains;
using SaeCluster.Models;
using SaeCluster.Sae;

namespace SaeCluster.Grains.Tests;

public class SweepSpecTests
{
    static string RepoRoot([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));
    static readonly string Examples = Path.Combine(RepoRoot(), "examples");
    static readonly string TinyModel = Path.Combine(RepoRoot(), "models", "tiny-gemma2-code");

    // line numbers matter: the error tests name them
    const string Base = """
        name: t
        model: {MODEL}
        corpus:
          paths: [corpus/*.txt]
        context: 128
        tokens: 10_240
        eval_tokens: 1024
        sites:
          layers: all
          kinds: [res, att]
        saes:
          - arch: topk
            widths: [64, 128]
            k: 8
          - arch: jumprelu
            width: 64
            l0_coeff: 0.01
        training:
          batch: 1024
          precision: auto
          shuffle_shards: 2
        storage:
          shard_dtype: bf16
          contexts_per_shard: 16
          model_precision: auto

        """;

    /// <summary>A temp folder with a one-file corpus, an empty folder and a non-Gemma checkpoint.</summary>
    static TempDir Fixture()
    {
        var tmp = new TempDir();
        Directory.CreateDirectory(tmp["corpus"]);
        File.WriteAllText(tmp["corpus/a.txt"], "def f(x):\n    return x + 1\n");
        Directory.CreateDirectory(tmp["empty"]);
        Directory.CreateDirectory(tmp["llama"]);
        File.WriteAllText(tmp["llama/config.json"], """{"model_type": "llama", "hidden_size": 64}""");
        return tmp;
    }

    static string Write(TempDir tmp, string yaml)
    {
        string path = tmp["sweep.yaml"];
        File.WriteAllText(path, yaml.Replace("{MODEL}", TinyModel));
        return path;
    }

    static void AssertSameSpec(SweepSpec a, SweepSpec b)
    {
        Assert.Equal(a, b);
        Assert.Equal(a.ToYaml(), b.ToYaml());
        Assert.Equal(a.Name, b.Name);
        Assert.Equal(a.ModelDir, b.ModelDir);
        Assert.Equal(a.CorpusPaths, b.CorpusPaths);
        Assert.Equal(a.TextField, b.TextField);
        Assert.Equal(a.Context, b.Context);
        Assert.Equal(a.EvalTokens, b.EvalTokens);
        Assert.Equal(a.Sites, b.Sites);
        Assert.Equal(a.Training.Saes, b.Training.Saes); // SaeConfig: record equality over every setting
        Assert.Equal((a.Training.Tokens, a.Training.BatchSize, a.Training.Seed, a.Training.LogEvery, a.Training.CheckpointEvery,
            a.Training.Normalize, a.Training.DeadTokens, a.Training.Precision, a.Training.EvalTokens, a.Training.ShuffleBlock),
            (b.Training.Tokens, b.Training.BatchSize, b.Training.Seed, b.Training.LogEvery, b.Training.CheckpointEvery,
            b.Training.Normalize, b.Training.DeadTokens, b.Training.Precision, b.Training.EvalTokens, b.Training.ShuffleBlock));
        Assert.Equal((a.ShuffleShards, a.ShardDtype, a.ContextsPerShard, a.ShardsPerProducer, a.KeepShards, a.ModelPrecision, a.EstimatedShards),
            (b.ShuffleShards, b.ShardDtype, b.ContextsPerShard, b.ShardsPerProducer, b.KeepShards, b.ModelPrecision, b.EstimatedShards));
        Assert.Equal(a.Model.ToJson().ToJsonString(), b.Model.ToJson().ToJsonString());
        Assert.Equal(a.Training.Formats, b.Training.Formats);
        Assert.Equal((a.ModelEvalTokens, a.ModelEvalTextField), (b.ModelEvalTokens, b.ModelEvalTextField));
        Assert.Equal(a.ModelEvalPaths, b.ModelEvalPaths);
    }

    [Fact]
    public void QuickstartExampleParses()
    {
        var s = SweepSpec.Load(Path.Combine(Examples, "quickstart.yaml"));
        Assert.Equal("quickstart", s.Name);
        Assert.Equal(TinyModel, s.ModelDir);
        Assert.Equal(4, s.Model.Layers);
        Assert.Equal(16, s.Sites.Count); // 4 layers × res, mlp, att, attn_out
        Assert.Equal((0, HookSite.Res), s.Sites[0]);
        Assert.Equal((3, HookSite.AttnOut), s.Sites[^1]);
        Assert.Equal(["topk-w256-k8", "jumprelu-w256-l0_0.01"], s.Training.Saes.Select(c => c.Name));
        Assert.Equal(128, s.Context);
        Assert.Equal(1024, s.Training.BatchSize);
        Assert.Equal(204_800 + 32_768, s.ProducedTokens);
        Assert.Equal([SaeFormat.SaeLens, SaeFormat.GemmaScope, SaeFormat.DictLearn, SaeFormat.Sparsify], s.Training.Formats);
        Assert.Equal(8_192, s.ModelEvalTokens);
        Assert.Single(s.ModelEvalPaths, p => p.EndsWith("email/*.py"));
        Assert.All(s.CorpusPaths, p => Assert.True(Path.IsPathRooted(p)));
        Assert.True(CorpusDocuments.FromPatterns(s.CorpusPaths).Files.Count > 10);
        AssertSameSpec(s, SweepSpec.Parse(s.ToYaml(), "/", "x"));
    }

    [Fact]
    public void GemmaScopeExampleParses()
    {
        var s = SweepSpec.Load(Path.Combine(Examples, "gemma-scope-jumprelu.yaml"));
        Assert.Equal(12, s.Sites.Count); // 4 layers × res, mlp, att
        Assert.DoesNotContain(s.Sites, p => p.Site == HookSite.AttnOut);
        Assert.Equal(9, s.Training.Saes.Count); // 3 widths × 3 l0_coeff
        Assert.All(s.Training.Saes, c => Assert.Equal(SaeArchitecture.JumpRelu, c.Architecture));
        Assert.Equal(1024, s.Context);
        Assert.False(s.KeepShards);
        Assert.Equal(8, s.ShuffleShards);
        AssertSameSpec(s, SweepSpec.Parse(s.ToYaml(), "/", "x"));
    }

    [Fact]
    public void Gemma3ExampleParsesAgainstARandomTinyGemma3()
    {
        using var tmp = new TempDir();
        // the layout the example expects: examples/ next to runs/tiny-gemma3
        RandomCheckpoint.Write(tmp["runs/tiny-gemma3"], RandomCheckpoint.TinyConfig(GemmaVersion.Gemma3), seed: 0);
        string path = Path.Combine(Examples, "gemma3-batchtopk.yaml");
        var s = SweepSpec.Parse(File.ReadAllText(path), tmp["examples"], path);
        Assert.Equal(GemmaVersion.Gemma3, s.Model.Version);
        Assert.Equal(tmp["runs/tiny-gemma3"], s.ModelDir);
        Assert.Equal(4, s.Sites.Count);
        Assert.Equal(["batchtopk-w1k-k80", "batchtopk-w1k-k160", "batchtopk-w4k-k80", "batchtopk-w4k-k160"], s.Training.Saes.Select(c => c.Name));
        AssertSameSpec(s, SweepSpec.Parse(s.ToYaml(), "/", "x"));
        // the example names the model folder the init-random command in its comment writes
        Assert.Contains("saectl model init-random --type gemma3_text --out runs/tiny-gemma3", File.ReadAllText(path));
    }

    [Fact]
    public void EveryExampleSaysHowToRunIt()
    {
        foreach (var file in Directory.GetFiles(Examples, "*.yaml"))
        {
            string text = File.ReadAllText(file);
            Assert.StartsWith("#", text);
            Assert.Contains($"saectl run examples/{Path.GetFileName(file)}", text);
        }
    }

    [Fact]
    public void DefaultsFillAMinimalSpec()
    {
        using var tmp = Fixture();
        var s = SweepSpec.Load(Write(tmp, """
            name: minimal
            model: {MODEL}
            corpus:
              paths: corpus
            context: 64
            tokens: 8192
            saes:
              - arch: topk
                width: 64
                k: 4
            """));
        Assert.Equal([tmp["corpus"]], s.CorpusPaths);
        Assert.Equal("text", s.TextField);
        Assert.Equal(262_144, s.EvalTokens);
        Assert.Equal([(0, HookSite.Res), (1, HookSite.Res), (2, HookSite.Res), (3, HookSite.Res)], s.Sites);
        Assert.Equal(4096, s.Training.BatchSize);
        Assert.Equal(500, s.Training.CheckpointEvery);
        Assert.Equal(50, s.Training.LogEvery);
        Assert.True(s.Training.Normalize);
        Assert.Equal(10_000_000, s.Training.DeadTokens);
        Assert.Equal(EncoderPrecision.Auto, s.Training.Precision);
        Assert.Equal(4, s.ShuffleShards);
        Assert.Equal(SafetensorsDtype.BF16, s.ShardDtype);
        Assert.Equal(64, s.ContextsPerShard);
        Assert.Equal(8, s.ShardsPerProducer);
        Assert.True(s.KeepShards);
        Assert.Equal(EncoderPrecision.Auto, s.ModelPrecision);
        Assert.Equal(1024, s.ModelMaxPositions);
        AssertSameSpec(s, SweepSpec.Parse(s.ToYaml(), "/", "x"));
    }

    [Fact]
    public void EverySettingRoundTripsThroughCanonicalYaml()
    {
        using var tmp = Fixture();
        var s = SweepSpec.Load(Write(tmp, """
            name: every-setting-9
            model: {MODEL}
            corpus:
              paths: ["corpus/*.txt", "corpus/a.txt"]
              text_field: "content"
            context: 300
            tokens: 1e6
            eval_tokens: 0
            sites:
              layers: "3,1-2"
              kinds: [attn_out, mlp, mlp]
            saes:
              - arch: relu
                widths: [96, 200]
                l1: [0.3, 1.5e-3]
                lr: 3e-4
                beta1: 0.5
                beta2: 0.99
                eps: 1e-7
                warmup_steps: 7
                decay_fraction: 0.1
                sparsity_warmup_steps: 11
              - name: "my-jr"
                arch: jumprelu
                width: 333
                l0_coeff: 0.0123456789
                threshold_init: 0.07
                bandwidth: 0.03
              - arch: batchtopk
                width: 512
                k: 33
                auxk_alpha: 0.1
                auxk: 17
                threshold_beta: 0.9
                threshold_start_step: 5
            training:
              batch: 2000
              seed: 42
              precision: BF16
              checkpoint_every: 0
              log_every: 3
              normalize: no
              dead_tokens: 123
              shuffle_shards: 1
            storage:
              shard_dtype: float16
              contexts_per_shard: 5
              shards_per_producer: 3
              keep_shards: off
              model_precision: fp32
            """));
        Assert.Equal([(1, HookSite.Mlp), (1, HookSite.AttnOut), (2, HookSite.Mlp), (2, HookSite.AttnOut), (3, HookSite.Mlp), (3, HookSite.AttnOut)], s.Sites);
        Assert.Equal([tmp["corpus/*.txt"], tmp["corpus/a.txt"]], s.CorpusPaths);
        Assert.Equal(6, s.Training.Saes.Count);
        Assert.Equal(0.0123456789f, s.Training.Saes[4].L0Coefficient);
        Assert.Equal("my-jr", s.Training.Saes[4].Name);
        Assert.Equal(1_000_000, s.Training.Tokens);
        Assert.Equal((ulong)42, s.Training.Seed);
        Assert.Equal(EncoderPrecision.BFloat16, s.Training.Precision);
        Assert.Equal(SafetensorsDtype.F16, s.ShardDtype);
        Assert.Equal(EncoderPrecision.Float32, s.ModelPrecision);
        Assert.False(s.KeepShards);
        Assert.False(s.Training.Normalize);

        var again = SweepSpec.Parse(s.ToYaml(), "/", "x");
        AssertSameSpec(s, again);
        Assert.Equal(again.ToYaml(), SweepSpec.Parse(again.ToYaml(), "/elsewhere", "y").ToYaml());
        Assert.NotEqual(s, SweepSpec.Parse(s.ToYaml().Replace("seed: 42", "seed: 43"), "/", "x"));
    }

    [Theory]
    [InlineData("layers: all", new[] { 0, 1, 2, 3 })]
    [InlineData("layers: [2, 0, 2]", new[] { 0, 2 })]
    [InlineData("layers: 3", new[] { 3 })]
    [InlineData("layers: \"0-1,3\"", new[] { 0, 1, 3 })]
    [InlineData("layers: 1-2", new[] { 1, 2 })]
    [InlineData("layers: [0-1, 3]", new[] { 0, 1, 3 })]
    public void LayersAllListAndRanges(string layers, int[] expected)
    {
        using var tmp = Fixture();
        var s = SweepSpec.Load(Write(tmp, Base.Replace("layers: all", layers)));
        Assert.Equal(expected, s.Layers);
        // ordered by layer, then kind
        Assert.Equal(expected.SelectMany(l => new[] { (l, HookSite.Res), (l, HookSite.Att) }), s.Sites);
    }

    [Fact]
    public void EstimatedShardsCoverTheTokensWithAMargin()
    {
        using var tmp = Fixture();
        var s = SweepSpec.Load(Write(tmp, Base));
        // (10_240 + 1_024) tokens at 127 per context = 89 contexts = 6 shards of 16; + 10% (1) + 1
        Assert.Equal(11_264, s.ProducedTokens);
        Assert.Equal(8, s.EstimatedShards);
        Assert.True((long)s.EstimatedShards * s.ContextsPerShard * (s.Context - 1) >= s.ProducedTokens * 1.1);
        Assert.Equal(1, s.EstimatedProducers);
    }

    [Fact]
    public void CorpusFoldersWithLinkLoopsTerminate()
    {
        using var tmp = Fixture();
        Directory.CreateDirectory(tmp["loop/sub"]);
        File.WriteAllText(tmp["loop/sub/b.txt"], "x = 1\n");
        Directory.CreateSymbolicLink(tmp["loop/sub/up"], "..");   // like llvm's build/Release -> ..
        var s = SweepSpec.Load(Write(tmp, Base.Replace("paths: [corpus/*.txt]", "paths: [loop, \"loop/**/*.txt\"]")));
        Assert.Equal([tmp["loop/sub/b.txt"]], CorpusDocuments.FromPatterns(s.CorpusPaths).Files);
    }

    [Fact]
    public async Task ParquetTextColumnsAreCheckedAtParseTime()
    {
        using var tmp = Fixture();
        var url = new Parquet.Schema.DataField<string>("url");
        await using (var file = File.Create(tmp["corpus/web.parquet"]))
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(new Parquet.Schema.ParquetSchema(url), file))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(url, ["https://example.org/"]);
        }
        string yaml = Base.Replace("paths: [corpus/*.txt]", "paths: [corpus/*.txt, corpus/*.parquet]");
        var e = Assert.Throws<ConfigException>(() => SweepSpec.Load(Write(tmp, yaml)));
        Assert.Contains($"corpus.paths[1] (line 4): {tmp["corpus/web.parquet"]}: no column \"text\" (string columns: url)", e.Message);
        var s = SweepSpec.Load(Write(tmp, yaml.Replace("  paths:", "  text_field: url\n  paths:")));
        Assert.Equal("url", s.TextField);
    }

    [Theory]
    // malformed YAML and shapes
    [InlineData("context: 128\n", "context: [128\n", "sweep.yaml:", "malformed YAML")]
    [InlineData("name: t\n", "name: t\nname: u\n", "sweep.yaml:", "malformed YAML")]
    [InlineData("sites:\n  layers: all\n  kinds: [res, att]\n", "sites: [res]\n", "sites (line 8)", "must be a mapping")]
    [InlineData("context: 128", "context: lots", "context (line 5)", "not an integer")]
    // unknown keys at every level
    [InlineData("eval_tokens: 1024", "eval_tokens: 1024\nbatchsize: 4", "batchsize (line 8)", "unknown field")]
    [InlineData("  paths: [corpus/*.txt]", "  paths: [corpus/*.txt]\n  format: jsonl", "corpus.format (line 5)", "unknown field")]
    [InlineData("  layers: all", "  layers: all\n  heads: all", "sites.heads (line 10)", "unknown field")]
    [InlineData("    k: 8", "    k: 8\n    kk: 8", "saes[0].kk (line 15)", "unknown field")]
    [InlineData("  batch: 1024", "  batch: 1024\n  lr: 0.1", "training.lr (line 20)", "unknown field")]
    [InlineData("  contexts_per_shard: 16", "  contexts_per_shard: 16\n  compress: yes", "storage.compress (line 25)", "unknown field")]
    // missing required fields
    [InlineData("name: t\n", "", "name", "is required")]
    [InlineData("model: {MODEL}\n", "", "model", "is required")]
    [InlineData("corpus:\n  paths: [corpus/*.txt]\n", "", "corpus", "is required")]
    [InlineData("  paths: [corpus/*.txt]\n", "  text_field: body\n", "corpus.paths", "is required")]
    [InlineData("context: 128\n", "", "context", "is required")]
    [InlineData("tokens: 10_240\n", "", "tokens", "is required")]
    [InlineData("saes:\n  - arch: topk\n    widths: [64, 128]\n    k: 8\n  - arch: jumprelu\n    width: 64\n    l0_coeff: 0.01\n", "", "saes", "is required")]
    // the model
    [InlineData("model: {MODEL}", "model: no-such-model", "model (line 2)", "no such folder")]
    [InlineData("model: {MODEL}", "model: empty", "model (line 2)", "has no config.json")]
    [InlineData("model: {MODEL}", "model: llama", "model (line 2)", "model_type 'llama' is not a Gemma text model")]
    [InlineData("model: {MODEL}", "model: corpus", "model (line 2)", "has no config.json")]
    // sites
    [InlineData("layers: all", "layers: [0, 4]", "sites.layers (line 9)", "layer 4 does not exist (the model has layers 0-3)")]
    [InlineData("layers: all", "layers: \"2-7\"", "sites.layers (line 9)", "the model has layers 0-3")]
    [InlineData("layers: all", "layers: \"3-1\"", "sites.layers (line 9)", "runs backwards")]
    [InlineData("layers: all", "layers: [-1]", "sites.layers (line 9)", "is not a layer")]
    [InlineData("kinds: [res, att]", "kinds: [res, resid]", "sites.kinds (line 10)", "unknown kind 'resid' (res, mlp, att, attn_out)")]
    [InlineData("kinds: [res, att]", "kinds: []", "sites.kinds (line 10)", "lists no kind")]
    // corpus
    [InlineData("paths: [corpus/*.txt]", "paths: [corpus/*.jsonl]", "corpus.paths[0] (line 4)", "matches no file")]
    [InlineData("paths: [corpus/*.txt]", "paths: [corpus/a.txt, nowhere/b.txt]", "corpus.paths[1] (line 4)", "no such file or folder")]
    [InlineData("paths: [corpus/*.txt]", "paths: empty", "corpus.paths (line 4)", "holds no file")]
    // context
    [InlineData("context: 128", "context: 1", "context (line 5)", "must be 2 to 1024")]
    [InlineData("context: 128", "context: 1025", "context (line 5)", "max_position_embeddings")]
    // enums and values
    [InlineData("name: t", "name: My_Sweep", "name (line 1)", "is not a sweep name")]
    [InlineData("  precision: auto", "  precision: fast", "training.precision (line 20)", "unknown precision 'fast'")]
    [InlineData("  model_precision: auto", "  model_precision: int8", "storage.model_precision (line 25)", "unknown precision 'int8'")]
    [InlineData("  shard_dtype: bf16", "  shard_dtype: f8", "storage.shard_dtype (line 23)", "unknown dtype 'f8'")]
    [InlineData("  batch: 1024", "  batch: 1024\n  normalize: maybe", "training.normalize (line 20)", "not true or false")]
    [InlineData("  shuffle_shards: 2", "  shuffle_shards: 0", "training.shuffle_shards (line 21)", "must be ≥ 1")]
    [InlineData("  contexts_per_shard: 16", "  contexts_per_shard: 0", "storage.contexts_per_shard (line 24)", "must be ≥ 1")]
    [InlineData("  contexts_per_shard: 16", "  contexts_per_shard: 16\n  shards_per_producer: 0", "storage.shards_per_producer (line 25)", "must be ≥ 1")]
    [InlineData("eval_tokens: 1024", "eval_tokens: -1", "eval_tokens (line 7)", "must be ≥ 0")]
    [InlineData("  batch: 1024", "  batch: 0", "training.batch (line 19)", "must be ≥ 1")]
    [InlineData("  batch: 1024", "  batch: 1024\n  seed: -3", "training.seed (line 20)", "must be ≥ 0")]
    // SAEs
    [InlineData("  - arch: topk", "  - arch: topkk", "saes[0].arch", "unknown architecture 'topkk'")]
    [InlineData("    l0_coeff: 0.01", "    l0_coeff: 0", "saes[1].l0_coeff", "jumprelu needs an L0 coefficient")]
    [InlineData("    l0_coeff: 0.01", "    l0_coeff: 0.01\n    lr: fast", "saes[1].lr (line 18)", "not a number")]
    [InlineData("    widths: [64, 128]", "    widths: [4, 128]", "saes[0].k", "k = 8 is larger than the width 4")]
    [InlineData("    widths: [64, 128]", "    widths: [64, 128]\n    name: one", "saes[0].name", "the family expands to 2")]
    [InlineData("  - arch: jumprelu", "  - arch: topk\n    width: 128\n    k: 8\n  - arch: jumprelu", "saes (line 11)", "two SAEs are named 'topk-w128-k8'")]
    // the evaluation in the model
    [InlineData("  model_precision: auto", "  model_precision: auto\nmodel_eval:\n  tokens: -5", "model_eval.tokens (line 27)", "must be ≥ 0")]
    [InlineData("  model_precision: auto", "  model_precision: auto\nmodel_eval:\n  paths: [held/*.txt]", "model_eval.paths[0] (line 27)", "does not exist")]
    [InlineData("  model_precision: auto", "  model_precision: auto\nmodel_eval:\n  token: 5", "model_eval.token (line 27)", "unknown field")]
    // output formats
    [InlineData("  model_precision: auto", "  model_precision: auto\n  formats: [saelens, onnx]", "storage.formats (line 26)", "unknown SAE format 'onnx'")]
    [InlineData("  model_precision: auto", "  model_precision: auto\n  formats: [functiongemma]", "storage.formats (line 26)", "functiongemma fits none of the SAEs")]
    // token budget
    [InlineData("tokens: 10_240", "tokens: 100", "tokens (line 6)", "must be at least one batch (1024)")]
    public void BadSpecsNameTheFileFieldAndLine(string find, string replace, string field, string message)
    {
        using var tmp = Fixture();
        Assert.Contains(find, Base);
        string path = Write(tmp, Base.Replace(find, replace));
        var e = Assert.Throws<ConfigException>(() => SweepSpec.Load(path));
        Assert.StartsWith(path, e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void ParseNamesItsSourceAndLoadAMissingFile()
    {
        var e = Assert.Throws<ConfigException>(() => SweepSpec.Parse("name: [", "/", "submitted"));
        Assert.StartsWith("submitted:", e.Message);
        Assert.Contains("malformed YAML", e.Message);
        e = Assert.Throws<ConfigException>(() => SweepSpec.Parse("- a\n- b\n", "/", "submitted"));
        Assert.Contains("must be a YAML mapping", e.Message);
        e = Assert.Throws<ConfigException>(() => SweepSpec.Load("/no/such/sweep.yaml"));
        Assert.Contains("/no/such/sweep.yaml: no such file", e.Message);
    }
}
