using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

/// <summary>Auto precision follows the machine's <see cref="Bf16Choice"/>, except for JumpReLU; explicit precisions are kept.</summary>
public class PrecisionTests
{
    static SaeLearner Learner(SaeArchitecture arch) => new(arch switch
    {
        SaeArchitecture.TopK or SaeArchitecture.BatchTopK => new SaeConfig(arch, 32, k: 4),
        SaeArchitecture.Relu => new SaeConfig(arch, 32, l1: 1f),
        _ => new SaeConfig(arch, 32, l0Coefficient: 1e-3f),
    }, 8, 1);

    [Theory]
    [InlineData(SaeArchitecture.Relu)]
    [InlineData(SaeArchitecture.TopK)]
    [InlineData(SaeArchitecture.BatchTopK)]
    [InlineData(SaeArchitecture.JumpRelu)]
    public void UsesBf16_AutoFollowsTheChoice_JumpReluStaysFp32(SaeArchitecture arch)
    {
        var l = Learner(arch);
        Assert.Equal(arch != SaeArchitecture.JumpRelu && Bf16Choice.Preferred, l.UsesBf16(EncoderPrecision.Auto));
        Assert.True(l.UsesBf16(EncoderPrecision.BFloat16));
        Assert.False(l.UsesBf16(EncoderPrecision.Float32));
    }

    [Fact]
    public void UsesAutoPrecision_OnlyWhenAutoDecidesSomeSae()
    {
        SaeConfig topK = new(SaeArchitecture.TopK, 32, k: 4), jump = new(SaeArchitecture.JumpRelu, 32, l0Coefficient: 1e-3f);
        Assert.True(new TrainingConfig([topK, jump], tokens: 4096).UsesAutoPrecision);
        Assert.False(new TrainingConfig([jump], tokens: 4096).UsesAutoPrecision);
        Assert.False(new TrainingConfig([topK], tokens: 4096, precision: EncoderPrecision.Float32).UsesAutoPrecision);
        Assert.False(new TrainingConfig([topK], tokens: 4096, precision: EncoderPrecision.BFloat16).UsesAutoPrecision);
    }
}
