using SaeCluster.Compute;

namespace SaeCluster.Sae.Tests;

/// <summary>
/// Files made by torch and numpy the way each library writes them (library_files.py: dictionary_learning's strided
/// encoders and k buffer, its training backups, FunctionGemma's dict, Gemma Scope's deflated npz with a Fortran-ordered
/// array), with the codes and reconstructions that library computes, which ours must match; and the files we write,
/// encoded by each library's maths in torch.
/// </summary>
public sealed class LibraryFilesTests : IClassFixture<LibraryFilesTests.Files>
{
    public sealed class Files : IDisposable
    {
        public TempDir Dir { get; } = new();
        public float[] X { get; }
        public int Rows { get; }
        public Files()
        {
            DebianTorch.RunFile(Script, "write", Dir.Path, "5");
            var x = Npy.Read(Dir["x.npy"]);
            Rows = (int)x.Shape[0];
            X = x.ToFloat32();
        }
        public void Dispose() => Dir.Dispose();
    }

    static string Script => Path.Combine(AppContext.BaseDirectory, "Formats", "library_files.py");

    readonly Files _files;
    public LibraryFilesTests(Files files) => _files = files;

    [Theory]
    [InlineData("dl_autoencoder", "dl_autoencoder", SaeFormat.DictLearn, SaeArchitecture.Relu)]
    [InlineData("dl_topk", "dl_topk", SaeFormat.DictLearn, SaeArchitecture.TopK)]
    [InlineData("dl_batchtopk", "dl_batchtopk", SaeFormat.DictLearn, SaeArchitecture.BatchTopK)]
    [InlineData("dl_jumprelu", "dl_jumprelu/ae.pt", SaeFormat.DictLearn, SaeArchitecture.JumpRelu)]
    [InlineData("dl_backup", "dl_backup/config.json", SaeFormat.DictLearn, SaeArchitecture.JumpRelu)]
    [InlineData("functiongemma", "functiongemma/sae_layer_03.pt", SaeFormat.FunctionGemma, SaeArchitecture.Relu)]
    [InlineData("gemmascope", "gemma-scope-2b-pt-res/layer_5/width_16k/average_l0_82", SaeFormat.GemmaScope, SaeArchitecture.JumpRelu)]
    public void ALibrarysFileEncodesAsThatLibraryEncodesIt(string name, string path, SaeFormat format, SaeArchitecture arch)
    {
        var sae = SaeFiles.Read(_files.Dir[path]);
        Assert.Equal(format, sae.Format);
        Assert.Equal(arch, sae.Weights.Architecture);
        Assert.Equal((24, 96), (sae.Weights.DIn, sae.Weights.DSae));
        var expectedCodes = Npy.Read(_files.Dir[name + ".codes.npy"]).ToFloat32();
        var expectedRecon = Npy.Read(_files.Dir[name + ".recon.npy"]).ToFloat32();
        var (codes, recon) = RandomSae.Encode(sae.Weights, _files.X, _files.Rows);
        RandomSae.Same(expectedCodes, codes, 1e-5, "codes");
        RandomSae.Same(expectedRecon, recon, 1e-5, "recon");
        Assert.Equal(expectedCodes.Count(v => v != 0), codes.Count(v => v != 0)); // the same latents fire

        // and every other format that can hold it gives the same again
        using var tmp = new TempDir();
        foreach (var to in SaeFormatNames.All.Where(f => f != format && SaeFiles.CannotWrite(sae.Weights, f) == null))
        {
            SaeFiles.Write(sae.Weights, to, tmp[to.ToName()], overwrite: false);
            var (c, r) = RandomSae.Encode(SaeFiles.Read(tmp[to.ToName()]).Weights, _files.X, _files.Rows);
            var expect = codes;
            if (to == SaeFormat.DictLearn && sae.Weights.Architecture == SaeArchitecture.Relu && !sae.Weights.HasUnitDecoderRows())
            {
                var norms = sae.Weights.DecoderRowNorms(); // an AutoEncoder is written with the unit-norm decoder its loader would make
                expect = codes.Select((v, i) => v * norms[i % sae.Weights.DSae]).ToArray();
            }
            RandomSae.Same(expect, c, 1e-6, $"codes as {to}");
            RandomSae.Same(recon, r, 1e-6, $"recon as {to}");
        }
    }

    [Fact]
    public void WhatTheFilesSayIsRead()
    {
        var topk = SaeFiles.Read(_files.Dir["dl_topk"]);
        Assert.Equal(6, topk.Weights.K);
        Assert.True(topk.Weights.ApplyBDecToInput);
        Assert.Equal("google/gemma-2-2b", topk.Weights.Provenance.ModelName);
        Assert.Equal("blocks.3.hook_resid_post", topk.Weights.Provenance.HookName);
        Assert.Equal(128, topk.Weights.Provenance.ContextSize);
        Assert.Equal(0.4f, SaeFiles.Read(_files.Dir["dl_batchtopk"]).Weights.SharedThreshold);
        Assert.Contains("normalised on load", SaeFiles.Read(_files.Dir["dl_autoencoder"]).Detail);
        var fg = SaeFiles.Read(_files.Dir["functiongemma"]);
        Assert.Equal("google/functiongemma-270m-it", fg.Weights.Provenance.ModelName);
        Assert.Equal(3, fg.Weights.Provenance.Layer);
        Assert.Contains("3 steps", fg.Detail);
        var gs = SaeFiles.Read(_files.Dir["gemma-scope-2b-pt-res/layer_5/width_16k/average_l0_82/params.npz"]);
        Assert.Equal("gemma-2-2b", gs.Weights.Provenance.ModelName);
        Assert.Equal("blocks.5.hook_resid_post", gs.Weights.Provenance.HookName);
        Assert.False(gs.Weights.ApplyBDecToInput);
    }

    public static TheoryData<SaeArchitecture, SaeFormat> OursForLibraries()
    {
        var data = new TheoryData<SaeArchitecture, SaeFormat>();
        foreach (var a in Enum.GetValues<SaeArchitecture>())
            foreach (var f in SaeFormatNames.All)
                if (SaeFiles.CannotWrite(a, f) == null) data.Add(a, f);
        return data;
    }

    [Theory]
    [MemberData(nameof(OursForLibraries))]
    public void AFileWeWriteEncodesInTheLibrarysMathsAsInOurs(SaeArchitecture arch, SaeFormat format)
    {
        var w = RandomSae.Make(arch, 20 + (int)arch, bDecOnInput: arch == SaeArchitecture.TopK, unitRows: arch != SaeArchitecture.Relu);
        using var tmp = new TempDir();
        var x = RandomSae.Inputs(30, 9);
        Npy.Write(tmp["x.npy"], StoredTensor.FromFloat32(x, [30, RandomSae.DIn]));
        SaeFiles.Write(w, format, tmp["sae"], overwrite: false);
        var ours = SaeFiles.Read(tmp["sae"]).Weights; // (dictionary_learning's AutoEncoder: the unit-norm decoder it is written with)
        var (codes, recon) = RandomSae.Encode(ours, x, 30);
        DebianTorch.RunFile(Script, "encode", format.ToName(), tmp["sae"], tmp["x.npy"], tmp["lib"]);
        RandomSae.Same(Npy.Read(tmp["lib.codes.npy"]).ToFloat32(), codes, 1e-5, "codes");
        RandomSae.Same(Npy.Read(tmp["lib.recon.npy"]).ToFloat32(), recon, 1e-5, "recon");
        var (c0, r0) = RandomSae.Encode(w, x, 30);
        RandomSae.Same(r0, recon, 1e-6, "recon of the SAE before it was written");
        if (!(arch == SaeArchitecture.Relu && format == SaeFormat.DictLearn)) RandomSae.Same(c0, codes, 1e-6, "codes of the SAE before it was written");
    }
}
