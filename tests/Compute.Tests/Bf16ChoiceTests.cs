using SaeCluster.Compute;

namespace SaeCluster.Compute.Tests;

/// <summary>Bf16Choice: the decision from its inputs (no timing), the SAECLUSTER_BF16 override, and the real probe's consistency.</summary>
public class Bf16ChoiceTests
{
    static Func<(double, double)> Measured(double fp32, double bf16) => () => (fp32, bf16);

    static readonly Func<(double, double)> NotMeasured = () => throw new InvalidOperationException("the probe should not run");

    [Fact]
    public void NoNativeKernel_IsFp32_WithoutMeasuring()
    {
        var c = Bf16Choice.Decide(null, hasNative: false, hasAmx: true, NotMeasured);
        Assert.False(c.PreferBf16);
        Assert.Equal("fp32: no native bf16 GEMM (oneDNN's bf16 kernel is not loaded)", c.ToString());
        Assert.Null(c.Fp32Gflops);
        Assert.Null(c.Bf16Gflops);
    }

    [Fact]
    public void Amx_IsBf16_WithoutMeasuring()
    {
        var c = Bf16Choice.Decide(null, hasNative: true, hasAmx: true, NotMeasured);
        Assert.True(c.PreferBf16);
        Assert.Equal("bf16: AMX present", c.ToString());
        Assert.Equal("precision auto → bf16 (AMX present)", c.LogLine);
    }

    [Fact]
    public void FasterBf16WithoutAmx_IsBf16_WithItsNumbers()
    {
        var c = Bf16Choice.Decide(null, hasNative: true, hasAmx: false, Measured(390, 980));
        Assert.True(c.PreferBf16);
        Assert.Equal("precision auto → bf16 (measured bf16 GEMM 980 GFLOP/s vs fp32 390 GFLOP/s)", c.LogLine);
        Assert.Equal(390, c.Fp32Gflops);
        Assert.Equal(980, c.Bf16Gflops);
    }

    [Fact]
    public void SlowerBf16WithoutAmx_IsFp32()
    {
        var c = Bf16Choice.Decide(null, hasNative: true, hasAmx: false, Measured(300, 167));
        Assert.False(c.PreferBf16);
        Assert.Equal("fp32: no AMX; measured bf16 GEMM 167 GFLOP/s vs fp32 300 GFLOP/s, bf16 needs > 1.15×", c.ToString());
        Assert.Equal(300, c.Fp32Gflops);
        Assert.Equal(167, c.Bf16Gflops);
    }

    [Theory]
    [InlineData(400, 400, false)]
    [InlineData(400, 459, false)] // faster, but within the margin
    [InlineData(400, 461, true)]
    public void Bf16MustBeatFp32ByTheMargin(double fp32, double bf16, bool preferBf16) =>
        Assert.Equal(preferBf16, Bf16Choice.Decide(null, hasNative: true, hasAmx: false, Measured(fp32, bf16)).PreferBf16);

    [Theory]
    [InlineData("off", true, true, false, "SAECLUSTER_BF16=off")]
    [InlineData("OFF", false, false, false, "SAECLUSTER_BF16=off")]
    [InlineData("on", true, false, true, "SAECLUSTER_BF16=on")]
    [InlineData(" On ", true, false, true, "SAECLUSTER_BF16=on")]
    [InlineData("on", false, false, false, "no native bf16 GEMM (oneDNN's bf16 kernel is not loaded)")] // never the widened managed path
    [InlineData("auto", true, true, true, "AMX present")]
    [InlineData("", true, true, true, "AMX present")]
    [InlineData("yes", true, true, true, "AMX present (SAECLUSTER_BF16='yes' ignored: on, off or measure)")]
    public void Override_DecidesWithoutMeasuring(string setting, bool hasNative, bool hasAmx, bool preferBf16, string reason)
    {
        var c = Bf16Choice.Decide(setting, hasNative, hasAmx, NotMeasured);
        Assert.Equal(preferBf16, c.PreferBf16);
        Assert.Equal(reason, c.Reason);
    }

    [Fact]
    public void MeasureOverride_ProbesEvenWithAmx()
    {
        var c = Bf16Choice.Decide("measure", hasNative: true, hasAmx: true, Measured(300, 167));
        Assert.False(c.PreferBf16);
        Assert.Equal("measured bf16 GEMM 167 GFLOP/s vs fp32 300 GFLOP/s, bf16 needs > 1.15×", c.Reason);
        Assert.True(Bf16Choice.Decide("measure", hasNative: true, hasAmx: true, Measured(300, 900)).PreferBf16);
    }

    [Fact]
    public void ThisMachine_ChoiceIsConsistentWithItsNumbers()
    {
        var c = Bf16Choice.Current;
        Assert.Same(c, Bf16Choice.Current);
        Assert.Equal(c.PreferBf16, Bf16Choice.Preferred);
        Assert.StartsWith($"{c.Precision}: ", c.ToString());
        if (!Gemm.HasFastBf16) Assert.False(c.PreferBf16);
        Assert.Equal(c.Fp32Gflops.HasValue, c.Bf16Gflops.HasValue);
        if (c.Fp32Gflops is double fp32 && c.Bf16Gflops is double bf16)
        {
            Assert.True(fp32 > 0 && bf16 > 0);
            Assert.Equal(bf16 > Bf16Choice.Margin * fp32, c.PreferBf16);
            Assert.Contains("measured", c.Reason);
        }
    }
}
