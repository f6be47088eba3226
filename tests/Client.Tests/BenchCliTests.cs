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

    [Fact]
    public void StepProfileNamesEveryPhaseAndTheRoofline()
    {
        var r = Saectl.Run("bench", "step", "--d-in", "128", "--width", "1024", "--batch", "512", "--k", "8", "--steps", "2", "--dead-fraction", "0.2", "--profile", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonNode.Parse(r.Stdout)!;
        var phases = j["profile_ms"]!.AsObject();
        foreach (var phase in new[] { "center + bf16 copies", "encoder GEMM", "code selection", "decode", "residual", "AuxK forward", "backward: entries by latent", "backward: latent-major", "backward: AuxK GEMMs", "b_dec gradient", "Adam", "firing statistics" })
            Assert.True(phases.ContainsKey(phase) && (double)phases[phase]! >= 0, $"phase '{phase}' missing from {phases.ToJsonString()}");
        Assert.True((double)j["memory_gbps"]! > 0);
        Assert.True((double)j["roofline_ms"]! > 0);
        Assert.InRange((double)j["roofline_fraction"]!, 1e-6, 2.0);
        Assert.True((double)j["auxk_per_token"]! > 0, "20% dead latents: AuxK must run");
    }

    /// <summary>
    /// The quality peer (bench/torch_sae_train.py, Debian python3-torch) trains on the same batches and is
    /// evaluated by the same code; each side's default lr is its own rule.
    /// </summary>
    [Fact]
    public void SyntheticPeerTrainsBothArchitecturesOnTheSameBatches()
    {
        var r = Saectl.Run("bench", "synthetic", "--d-in", "16", "--features", "64", "--l0", "4", "--tokens", "409600", "--batch", "1024",
            "--arch", "topk,batchtopk", "--lr", "default,2e-3", "--peer", "--quiet", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonNode.Parse(r.Stdout)!;
        var rows = j["saes"]!.AsArray().Select(n => n!.AsObject()).ToArray();
        Assert.Equal(8, rows.Length);
        foreach (var side in new[] { "saecluster", "peer" })
            foreach (var arch in new[] { "topk", "batchtopk" })
            {
                var def = rows.Single(x => (string)x["side"]! == side && (string)x["arch"]! == arch && (string)x["lr_setting"]! == "default");
                var set = rows.Single(x => (string)x["side"]! == side && (string)x["arch"]! == arch && (string)x["lr_setting"]! == "0.002");
                double expected = side == "peer" ? 2e-4 * Math.Sqrt(16384.0 / 64) : (arch == "batchtopk" ? 2 : 1) * 2e-4 * Math.Sqrt(16384.0 / 64) * Math.Sqrt(2304.0 / 16);
                Assert.Equal(expected, (double)def["lr"]!, expected * 1e-3);
                Assert.Equal(2e-3, (double)set["lr"]!, 1e-7);
                foreach (var row in new[] { def, set })
                {
                    Assert.InRange((double)row["mmcs"]!, 0.2, 1.0);
                    Assert.InRange((double)row["fvu"]!, 0.0, 2.0);
                    Assert.InRange((double)row["l0"]!, 1.0, 8.0);
                }
            }
    }
}
