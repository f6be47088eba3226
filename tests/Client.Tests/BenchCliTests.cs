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
        AssertStepDefinitions(j, batch: 512, dIn: 128, width: 1024);
        Assert.InRange((double)j["l0"]!, 1, 8); // TopK k = 8: at most k per token
    }

    /// <summary>
    /// The step numbers against their definitions (BenchCommand.RunStep): tokens/s = batch / (ms/step / 1000);
    /// encoder share = 2·batch·d_in·width FLOPs at the measured peak ÷ the step; dense equivalent = 5 such GEMMs
    /// per step; the roofline = the encoder at the peak + Adam's 28 bytes per parameter at the bandwidth.
    /// </summary>
    static void AssertStepDefinitions(JsonNode j, int batch, int dIn, int width)
    {
        double ms = (double)j["ms_per_step"]!, seconds = ms / 1000;
        Assert.True(ms > 0, $"ms_per_step {ms}");
        Assert.Equal(batch / seconds, (double)j["tokens_per_s"]!, 1e-9 * batch / seconds);
        double peak = (string)j["precision"]! == "bf16" ? (double)j["gemm_bf16_gflops"]! : (double)j["gemm_fp32_gflops"]!;
        Assert.True(peak > 0, $"GEMM peak {peak}");
        double encoderFlops = 2.0 * batch * dIn * width;
        double share = encoderFlops / (peak * 1e9) / seconds;
        Assert.Equal(share, (double)j["encoder_gemm_share"]!, 1e-9 * share);
        double dense = 5 * encoderFlops / seconds / 1e12;
        Assert.Equal(dense, (double)j["dense_equivalent_tflops"]!, 1e-9 * dense);
        double parameters = 2.0 * dIn * width + width + dIn; // W_enc, W_dec, b_enc, b_dec
        double bandwidth = (double)j["memory_gbps"]!;
        Assert.True(bandwidth > 0, $"memory_gbps {bandwidth}");
        double roofline = (encoderFlops / (peak * 1e9) + 28.0 * parameters / (bandwidth * 1e9)) * 1000;
        Assert.Equal(roofline, (double)j["roofline_ms"]!, 1e-9 * roofline);
        Assert.Equal(roofline / ms, (double)j["roofline_fraction"]!, 1e-9 * roofline / ms);
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
        AssertStepDefinitions(j, batch: 512, dIn: 128, width: 1024);
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
