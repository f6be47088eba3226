using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

public class ConfigTests
{
    static string Write(TempDir tmp, string yaml)
    {
        string p = tmp["train.yaml"];
        File.WriteAllText(p, yaml);
        return p;
    }

    [Fact]
    public void FamiliesExpandOverWidthsAndSparsities()
    {
        using var tmp = new TempDir();
        var f = TrainConfigFile.Load(Write(tmp, """
            data: acts
            out: runs/x
            tokens: 1_000_000
            batch: 1024
            saes:
              - arch: batchtopk
                widths: [16384, 65536]
                k: [80, 160]
              - arch: jumprelu
                width: 4096
                l0_coeff: 0.001
                lr: 7e-5
            """));
        Assert.Equal(5, f.Training.Saes.Count);
        Assert.Equal(["batchtopk-w16k-k80", "batchtopk-w16k-k160", "batchtopk-w64k-k80", "batchtopk-w64k-k160", "jumprelu-w4k-l0_0.001"],
            f.Training.Saes.Select(s => s.Name));
        Assert.Equal(Path.Combine(tmp.Path, "acts"), f.DataDir);
        Assert.Equal(1024, f.Training.BatchSize);
        Assert.Equal(7e-5f, f.Training.Saes[4].LearningRate);
        Assert.Equal(0f, f.Training.Saes[4].Beta1); // Gemma Scope: β1 = 0
    }

    [Theory]
    [InlineData("data: a\nout: b\ntokens: 100000\nsaes:\n  - arch: topk\n    width: 64\n    k: 65\n", "saes[0].k", "larger than the width")]
    [InlineData("data: a\nout: b\ntokens: 100000\nsaes:\n  - arch: topkk\n    width: 64\n", "saes[0].arch", "unknown architecture")]
    [InlineData("data: a\nout: b\ntokens: 100000\nsaes:\n  - arch: relu\n    width: 64\n", "saes[0].l1", "L1 coefficient")]
    [InlineData("data: a\nout: b\ntokens: 100000\nsaes:\n  - arch: topk\n    width: 64\n    k: 8\n    lr: fast\n", "saes[0].lr (line 8)", "not a number")]
    [InlineData("data: a\nout: b\ntokens: 100000\nbatchsize: 4\nsaes:\n  - arch: topk\n    width: 64\n    k: 8\n", "batchsize (line 4)", "unknown field")]
    [InlineData("data: a\nout: b\nsaes:\n  - arch: topk\n    width: 64\n    k: 8\n", "tokens", "is required")]
    [InlineData("data: a\nout: b\ntokens: 100000\nsaes: [\n", "train.yaml:", "malformed YAML")]
    [InlineData("data: a\nout: b\ntokens: 10\nsaes:\n  - arch: topk\n    width: 64\n    k: 8\n", "tokens", "at least one batch")]
    public void BadConfigsNameTheFileAndField(string yaml, string field, string message)
    {
        using var tmp = new TempDir();
        string path = Write(tmp, yaml);
        var e = Assert.Throws<ConfigException>(() => TrainConfigFile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(message, e.Message);
    }
}

/// <summary>The default learning rates: the width rule (× 1/√d_in; × 2 for BatchTopK), the recipes for JumpReLU and ReLU.</summary>
public class LearningRateDefaultTests
{
    [Theory]
    [InlineData(16384, 2304, 2e-4)]        // Gemma 2 2B at 16k: dictionary_learning's value
    [InlineData(65536, 2304, 1e-4)]        // 4× wider: half
    [InlineData(16384, 576, 4e-4)]         // d_in / 4: twice
    [InlineData(640, 80, 5.43e-3)]         // the synthetic setting
    public void TopKAndBatchTopKScaleWithWidthAndDIn(int width, int dIn, double expected)
    {
        var topk = new SaeConfig(SaeArchitecture.TopK, width, k: 8);
        Assert.Null(topk.LearningRate);
        Assert.Equal(expected, topk.LearningRateFor(dIn), expected * 2e-3);
        // BatchTopK: twice TopK's (its batch-wide budget finds features more slowly: bench/README.md)
        Assert.Equal(2 * expected, new SaeConfig(SaeArchitecture.BatchTopK, width, k: 8).LearningRateFor(dIn), expected * 4e-3);
    }

    [Fact]
    public void JumpReluAndReluKeepTheirRecipesAndAnExplicitLrWins()
    {
        Assert.Equal(7e-5f, new SaeConfig(SaeArchitecture.JumpRelu, 4096, l0Coefficient: 1e-3f).LearningRateFor(2304));
        Assert.Equal(7e-5f, new SaeConfig(SaeArchitecture.JumpRelu, 4096, l0Coefficient: 1e-3f).LearningRateFor(64));
        Assert.Equal(5e-5f, new SaeConfig(SaeArchitecture.Relu, 4096, l1: 5f).LearningRateFor(2304));
        Assert.Equal(3e-3f, new SaeConfig(SaeArchitecture.TopK, 4096, k: 8, lr: 3e-3f).LearningRateFor(64));
    }

    [Fact]
    public void TheCanonicalYamlKeepsTheDefaultUnresolved()
    {
        var c = new SaeConfig(SaeArchitecture.BatchTopK, 1024, k: 16);
        string yaml = SaeFamilies.ToYaml(c);
        Assert.DoesNotContain("lr:", yaml);
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        stream.Load(new StringReader(yaml));
        var back = SaeFamilies.Expand(stream.Documents[0].RootNode);
        Assert.Equal(c, back.Single());
        Assert.Null(back.Single().LearningRate);
    }

    [Fact]
    public void TheLearnerTrainsAtTheResolvedRate()
    {
        var l = new SaeLearner(new SaeConfig(SaeArchitecture.TopK, 256, k: 4), 64, 1);
        Assert.Equal(SaeConfig.DefaultLearningRate(SaeArchitecture.TopK, 256, 64), l.LearningRate);
        Assert.Equal(2e-4 * 8 * 6, l.LearningRate, 1e-6);
    }
}
