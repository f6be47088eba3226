namespace SaeCluster.Sae.Tests;

/// <summary>Every format we write reads back as the same SAE, and every SAE converts to every format that can hold it with the same codes and reconstructions.</summary>
public class FormatMatrixTests
{
    const int Rows = 40;
    static readonly SaeArchitecture[] Architectures = Enum.GetValues<SaeArchitecture>();

    public static TheoryData<SaeArchitecture, SaeFormat, bool> Writable()
    {
        var data = new TheoryData<SaeArchitecture, SaeFormat, bool>();
        foreach (var a in Architectures)
            foreach (var f in SaeFormatNames.All)
                if (SaeFiles.CannotWrite(a, f) == null)
                    foreach (bool bDec in new[] { false, true }) data.Add(a, f, bDec);
        return data;
    }

    [Theory]
    [MemberData(nameof(Writable))]
    public void AFileWeWriteReadsBackAsTheSameSae(SaeArchitecture arch, SaeFormat format, bool bDecOnInput)
    {
        var w = RandomSae.Make(arch, seed: (int)arch * 10 + (int)format, bDecOnInput, unitRows: true);
        var x = RandomSae.Inputs(Rows, 1);
        var (codes, recon) = RandomSae.Encode(w, x, Rows);
        using var tmp = new TempDir();
        var (written, note) = SaeFiles.Write(w, format, tmp["out"], overwrite: false);
        Assert.Null(note);
        Assert.True(File.Exists(written) || Directory.Exists(written), written);
        Assert.Empty(Directory.GetDirectories(tmp.Path, ".out.tmp-*")); // the staging folder is gone

        var back = SaeFiles.Read(tmp["out"]); // the format is detected
        Assert.Equal(format, back.Format);
        Assert.Equal((w.DIn, w.DSae), (back.Weights.DIn, back.Weights.DSae));
        var expectArch = (arch, format) switch
        {
            (SaeArchitecture.Relu, SaeFormat.GemmaScope) => SaeArchitecture.JumpRelu, // θ = 0
            (SaeArchitecture.BatchTopK, SaeFormat.SaeLens or SaeFormat.GemmaScope) => SaeArchitecture.JumpRelu, // its shared θ, as SAELens saves it
            _ => arch,
        };
        Assert.Equal(expectArch, back.Weights.Architecture);
        if (arch is SaeArchitecture.TopK or SaeArchitecture.BatchTopK && format is SaeFormat.DictLearn or SaeFormat.Sparsify) Assert.Equal(RandomSae.K, back.Weights.K);
        var (codes2, recon2) = RandomSae.Encode(back.Weights, x, Rows);
        RandomSae.Same(codes, codes2, 1e-6, "codes");
        RandomSae.Same(recon, recon2, 1e-6, "recon");
        if (format is SaeFormat.SaeLens or SaeFormat.DictLearn)
        {
            Assert.Equal("blocks.3.hook_resid_post", back.Weights.Provenance.HookName);
            Assert.Equal("google/gemma-2-2b", back.Weights.Provenance.ModelName);
            Assert.Equal(128, back.Weights.Provenance.ContextSize);
        }
        if (format == SaeFormat.Sparsify) Assert.Equal("blocks.3.hook_resid_post", back.Weights.Provenance.HookName); // hookpoint layers.3
    }

    [Theory]
    [InlineData(SaeArchitecture.Relu)]
    [InlineData(SaeArchitecture.TopK)]
    [InlineData(SaeArchitecture.BatchTopK)]
    [InlineData(SaeArchitecture.JumpRelu)]
    public void EveryFormatConvertsToEveryOtherWithTheSameCodes(SaeArchitecture arch)
    {
        var w = RandomSae.Make(arch, seed: 7 + (int)arch, bDecOnInput: true, unitRows: true);
        var x = RandomSae.Inputs(Rows, 2);
        var (codes, recon) = RandomSae.Encode(w, x, Rows);
        using var tmp = new TempDir();
        int pairs = 0;
        foreach (var from in SaeFormatNames.All.Where(f => SaeFiles.CannotWrite(w, f) == null))
        {
            SaeFiles.Write(w, from, tmp[from.ToName()], overwrite: false);
            var source = SaeFiles.Read(tmp[from.ToName()]).Weights;
            foreach (var to in SaeFormatNames.All.Where(f => f != from && SaeFiles.CannotWrite(source, f) == null))
            {
                string dir = tmp[$"{from.ToName()}-to-{to.ToName()}"];
                SaeFiles.Write(source, to, dir, overwrite: false);
                var converted = SaeFiles.Read(dir);
                Assert.Equal(to, converted.Format);
                var (c, r) = RandomSae.Encode(converted.Weights, x, Rows);
                RandomSae.Same(codes, c, 1e-6, $"codes {from} → {to}");
                RandomSae.Same(recon, r, 1e-6, $"recon {from} → {to}");
                pairs++;
            }
        }
        Assert.Equal(arch == SaeArchitecture.Relu ? 11 : 6, pairs); // ReLU: SAELens, Gemma Scope (θ = 0, read back as JumpReLU), dictionary_learning, FunctionGemma
    }

    [Fact]
    public void FormatsThatCannotHoldAnArchitectureSaySo()
    {
        Assert.Contains("top-k", SaeFiles.CannotWrite(SaeArchitecture.TopK, SaeFormat.GemmaScope));
        Assert.Contains("top-k", SaeFiles.CannotWrite(SaeArchitecture.JumpRelu, SaeFormat.Sparsify));
        Assert.Contains("ReLU", SaeFiles.CannotWrite(SaeArchitecture.TopK, SaeFormat.FunctionGemma));
        var w = RandomSae.Make(SaeArchitecture.Relu, 1) with { Normalization = ActivationNormalization.LayerNorm };
        Assert.Contains("only SAELens", SaeFiles.CannotWrite(w, SaeFormat.DictLearn));
        Assert.Null(SaeFiles.CannotWrite(w, SaeFormat.SaeLens));
        using var tmp = new TempDir();
        var e = Assert.Throws<DataException>(() => SaeFiles.Write(w, SaeFormat.GemmaScope, tmp["gs"], overwrite: false));
        Assert.Contains("cannot write as Gemma Scope", e.Message);
        Assert.False(Directory.Exists(tmp["gs"]));
    }

    [Fact]
    public void DictionaryLearningGetsAUnitNormDecoderAsItsLoaderMakesOne()
    {
        var w = RandomSae.Make(SaeArchitecture.Relu, 3, unitRows: false);
        var x = RandomSae.Inputs(Rows, 3);
        var (codes, recon) = RandomSae.Encode(w, x, Rows);
        using var tmp = new TempDir();
        var (_, note) = SaeFiles.Write(w, SaeFormat.DictLearn, tmp["dl"], overwrite: false);
        Assert.Contains("unit-norm", note);
        var back = SaeFiles.Read(tmp["dl"]).Weights;
        Assert.True(back.HasUnitDecoderRows());
        var (c, r) = RandomSae.Encode(back, x, Rows);
        RandomSae.Same(recon, r, 1e-6, "recon");
        var norms = w.DecoderRowNorms();
        var scaled = codes.Select((v, i) => v * norms[i % w.DSae]).ToArray();
        RandomSae.Same(scaled, c, 1e-6, "codes × ‖W_dec,j‖");
    }

    [Fact]
    public void AnExistingOutputIsReplacedOnlyWithOverwrite()
    {
        var w = RandomSae.Make(SaeArchitecture.TopK, 4);
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["out"]);
        File.WriteAllText(tmp["out/keep.txt"], "mine");
        var e = Assert.Throws<ConfigException>(() => SaeFiles.Write(w, SaeFormat.SaeLens, tmp["out"], overwrite: false));
        Assert.Contains("--overwrite", e.Message);
        Assert.True(File.Exists(tmp["out/keep.txt"]));
        SaeFiles.Write(w, SaeFormat.SaeLens, tmp["out"], overwrite: true);
        Assert.False(File.Exists(tmp["out/keep.txt"]));
        Assert.Equal(SaeFormat.SaeLens, SaeFiles.Read(tmp["out/sae_weights.safetensors"]).Format);
    }
}
