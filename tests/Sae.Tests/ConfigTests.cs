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
