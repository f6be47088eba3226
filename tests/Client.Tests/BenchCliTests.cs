using System.Text.Json.Nodes;

namespace SaeCluster.Client.Tests;

public class BenchCliTests
{
    [Fact]
    public void StepBenchReportsThroughputAgainstTheMeasuredGemmPeak()
    {
        var r = Saectl.Run("bench", "step", "--d-in", "128", "--width", "1024", "--batch", "512", "--k", "8", "--steps", "3", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonNode.Parse(r.Stdout)!;
        Assert.True((double)j["tokens_per_s"]! > 0);
        Assert.True((double)j["gemm_fp32_gflops"]! > 0);
        Assert.InRange((double)j["encoder_gemm_share"]!, 0.0, 1.5);
        Assert.InRange((double)j["l0"]!, 1, 8);
    }
}
