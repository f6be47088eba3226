using SaeCluster.Compute;
using SaeCluster.Models;

namespace SaeCluster.Models.Tests;

public class ActivationProducerTests
{
    /// <summary>The shard's norm_scale metadata.</summary>
    static float ParseScale(SafetensorsFile f) => float.Parse(f.Metadata["norm_scale"], System.Globalization.CultureInfo.InvariantCulture);

    static int[][] Documents()
    {
        // pre-tokenized "documents" for the tiny model (ids of printable characters)
        var rng = new Rng(3);
        return Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, 20 + rng.NextInt(60)).Select(__ => 263 + rng.NextInt(90)).ToArray()).ToArray();
    }

    [Fact]
    public void WritesOneShardPerSiteAndChunkFromOneForwardPass()
    {
        using var tmp = new TempDir();
        var model = GemmaModel.Load(RepositoryPaths.TinyGemma2);
        var sites = SiteSelection.Parse("res:0-1,att:3", model.Config.Layers);
        var packer = new ContextPacker(64, 2, 1, 0);
        var contexts = packer.Pack(Documents()).ToArray();
        var producer = new ActivationProducer(model, sites, rowsPerBatch: 3, modelName: "tiny-gemma2-code");
        var result = producer.Run(contexts, new ContextPacker(64, 2, 1, 0), tmp.Path, contextsPerChunk: 4, maxTokens: long.MaxValue);
        int trainable = contexts.Sum(c => c.Count(packer.Trainable));
        Assert.Equal(trainable, result.Tokens);
        int chunks = (contexts.Length + 3) / 4;
        foreach (var (layer, site) in sites.Pairs)
        {
            var files = Directory.GetFiles(Path.Combine(tmp.Path, $"{layer}.{site.Name()}"));
            Assert.Equal(chunks, files.Length);
        }
        // chunk 0, layer 3 att: rows are the trainable positions of contexts 0-3, in order
        using var f = SafetensorsFile.Open(ActivationProducer.ShardPath(tmp.Path, 3, HookSite.Att, 0));
        var acts = f.Get("acts");
        var tokens = f.ReadInt32("tokens");
        var positions = f.ReadInt32("positions");
        int expectedRows = contexts.Take(4).Sum(c => c.Count(packer.Trainable));
        Assert.Equal([expectedRows, 192L], acts.Shape);
        Assert.Equal(SafetensorsDtype.BF16, acts.Dtype);
        Assert.Equal(contexts[0][positions[0]], tokens[0]);
        Assert.Equal("att", f.Metadata["site"]);
        Assert.Equal("blocks.3.attn.hook_z", f.Metadata["hook_name"]);
        // norm_scale is s with E‖s·x‖² = 1 over chunk 0's rows (computed before bf16 rounding, hence the tolerance);
        // every later chunk of the site records chunk 0's scale
        var all = new float[expectedRows * 192];
        f.ReadRowsAsFloat("acts", 0, expectedRows, all);
        double meanSq = System.Numerics.Tensors.TensorPrimitives.SumOfSquares(all) / (double)expectedRows;
        float normScale = ParseScale(f);
        Assert.Equal(1 / Math.Sqrt(meanSq), normScale, 1e-3 * normScale);
        for (int chunk = 1; chunk < chunks; chunk++)
        {
            using var later = SafetensorsFile.Open(ActivationProducer.ShardPath(tmp.Path, 3, HookSite.Att, chunk));
            Assert.Equal(normScale, ParseScale(later));
        }

        // the same rows straight from a forward hook, within bf16 rounding
        var direct = new float[64 * 192];
        model.Forward(contexts[0], 1, new OneSite(3, HookSite.Att, direct), logits: false);
        var stored = new float[192];
        f.ReadRowsAsFloat("acts", 0, 1, stored);
        for (int i = 0; i < 192; i++)
            Assert.Equal(direct[positions[0] * 192 + i], stored[i], 0.01f * (1 + Math.Abs(direct[positions[0] * 192 + i])));
    }

    [Fact]
    public void ARerunResumesByChunkAndRewritesNothing()
    {
        using var tmp = new TempDir();
        var model = GemmaModel.Load(RepositoryPaths.TinyGemma2, layers: 2);
        var sites = SiteSelection.Parse("res:0,mlp:1", 4);
        var packer = new ContextPacker(32, 2, 1, 0);
        var contexts = packer.Pack(Documents()).ToArray();
        new ActivationProducer(model, sites).Run(contexts, packer, tmp.Path, 3, long.MaxValue);
        string victim = ActivationProducer.ShardPath(tmp.Path, 1, HookSite.Mlp, 2);
        var before = File.ReadAllBytes(victim);
        var untouched = ActivationProducer.ShardPath(tmp.Path, 0, HookSite.Res, 2);
        var stamp = File.GetLastWriteTimeUtc(untouched);
        File.Delete(victim);
        var again = new ActivationProducer(model, sites).Run(contexts, packer, tmp.Path, 3, long.MaxValue);
        Assert.Equal(before, File.ReadAllBytes(victim));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(untouched));
        Assert.Equal((contexts.Length + 2) / 3 - 1, again.ChunksSkipped);
    }

    [Theory]
    [InlineData("res:all", 4)]
    [InlineData("res:0-1,mlp:3,att:2+3", 5)]
    [InlineData("attn_out:1", 1)]
    public void SiteSpecs(string spec, int pairs) => Assert.Equal(pairs, SiteSelection.Parse(spec, 4).Pairs.Count);

    [Theory]
    [InlineData("res:4", "does not exist")]
    [InlineData("resid:0", "unknown site")]
    [InlineData("0-3", "before any site")]
    [InlineData("mlp:3-1", "backwards")]
    public void BadSiteSpecs(string spec, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => SiteSelection.Parse(spec, 4)).Message);

    sealed class OneSite(int layer, HookSite site, float[] into) : IActivationHook
    {
        public bool Wants(int l, HookSite s) => l == layer && s == site;
        public void OnActivation(int l, HookSite s, Span<float> values, int tokens, int width) => values.CopyTo(into);
    }
}
