using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// SaeCluster's instruments as a Prometheus server sees them through the OpenTelemetry exporter the silos
/// and <c>saectl run</c> serve: the names alerts and the dashboard query (units as suffixes, counters with
/// <c>_total</c>), labels, our histogram buckets, process metrics — and Prometheus' own linter accepts the
/// exposition.
/// </summary>
public sealed partial class MetricsExportTests
{
    [Fact]
    public async Task The_silo_instruments_reach_Prometheus_under_the_names_the_alerts_use()
    {
        int port = LoopbackPorts.Free();
        using var provider = Sdk.CreateMeterProviderBuilder().AddSaeClusterMeters("saecluster-test", "expo")
            .AddPrometheusHttpListener(o => { o.Host = "127.0.0.1"; o.Port = port; o.ScrapeResponseCacheDurationMilliseconds = 0; })
            .Build();
        var trainer = SaeClusterMetrics.Trainers.Add(new TrainerTelemetry("expo-test", 3, "res") { Phase = "training", Step = 10, Tokens = 40960 });
        trainer.Saes = [new SaeTelemetry("topk-w64-k8") { L0 = 8, Fvu = 0.2, DeadFraction = 0.01, Loss = 0.3, LearningRate = 4e-4 }];
        var sweep = SaeClusterMetrics.Sweeps.Add(new SweepTelemetry("expo-test") { Progress = 0.5 });
        try
        {
            SaeClusterMetrics.BlobWritten.Add(1234);
            SaeClusterMetrics.ShardWrites.Record(0.07, new KeyValuePair<string, object?>("sweep", "expo-test"));
            SaeClusterMetrics.LeaseOperations.Record(0.003, new KeyValuePair<string, object?>("op", "commit"));
            Compute.Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[16], 4, new float[16], 4, 0f, new float[16], 4);
            using var http = new HttpClient();
            string text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
            var samples = Parse(text);

            var sae = new Dictionary<string, string> { ["sweep"] = "expo-test", ["layer"] = "3", ["site"] = "res", ["sae"] = "topk-w64-k8" };
            Assert.Equal(0.2, Value(samples, "saecluster_sae_fvu_ratio", sae));
            Assert.Equal(8, Value(samples, "saecluster_sae_l0", sae));
            Assert.Equal(0.01, Value(samples, "saecluster_sae_dead_latents_ratio", sae));
            Assert.Equal(40960, Value(samples, "saecluster_sae_tokens_total", sae));
            Assert.Equal(1, Value(samples, "saecluster_trainer_phase", new() { ["sweep"] = "expo-test", ["layer"] = "3", ["site"] = "res", ["phase"] = "training" }));
            Assert.Equal(0.5, Value(samples, "saecluster_sweep_progress_ratio", new() { ["sweep"] = "expo-test" }));
            Assert.True(Value(samples, "saecluster_blob_written_bytes_total", []) >= 1234);
            Assert.True(Value(samples, "saecluster_gemm_flops_total", new() { ["precision"] = "f32" }) >= 128);
            // our bucket boundaries, not the SDK's defaults (0…10000 whatever the unit)
            var buckets = samples.Where(s => s.Name == "saecluster_producer_shard_write_duration_seconds_bucket" && s.Labels.GetValueOrDefault("sweep") == "expo-test")
                .Select(s => s.Labels["le"]).ToArray();
            Assert.Equal(["0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "+Inf"], buckets);
            Assert.Equal(1, Value(samples, "saecluster_producer_shard_write_duration_seconds_bucket", new() { ["sweep"] = "expo-test", ["le"] = "0.1" }));
            Assert.True(Value(samples, "saecluster_lease_operation_duration_seconds_bucket", new() { ["op"] = "commit", ["le"] = "0.005" }) >= 1);
            Assert.Contains("# TYPE process_cpu_seconds_total counter", text);
            Assert.Contains("# TYPE process_resident_memory_bytes gauge", text);
            PromtoolAccepts(text);

            // a finished trainer is dropped (or lingers for its linger time); a lingering sweep keeps its last values
            SaeClusterMetrics.Trainers.Remove(trainer, TimeSpan.Zero);
            SaeClusterMetrics.Sweeps.Remove(sweep, TimeSpan.FromMinutes(1));
            samples = Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));
            Assert.DoesNotContain(samples, s => s.Name.StartsWith("saecluster_trainer_", StringComparison.Ordinal) && s.Labels.GetValueOrDefault("sweep") == "expo-test");
            Assert.Equal(0.5, Value(samples, "saecluster_sweep_progress_ratio", new() { ["sweep"] = "expo-test" }));
        }
        finally
        {
            SaeClusterMetrics.Trainers.Remove(trainer, TimeSpan.Zero);
            SaeClusterMetrics.Sweeps.Remove(sweep, TimeSpan.Zero);
        }
    }

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    // the one sample of the family with (at least) these labels
    static double Value(IReadOnlyList<Sample> samples, string name, Dictionary<string, string> labels)
    {
        var matching = samples.Where(s => s.Name == name && labels.All(kv => s.Labels.GetValueOrDefault(kv.Key) == kv.Value)).ToArray();
        Assert.True(matching.Length == 1, $"{name}{{{string.Join(",", labels.Select(kv => $"{kv.Key}={kv.Value}"))}}}: {matching.Length} samples");
        return matching[0].Value;
    }

    static IReadOnlyList<Sample> Parse(string exposition)
    {
        var samples = new List<Sample>();
        foreach (string line in exposition.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a sample line: {line}");
            var labels = LabelPair().Matches(m.Groups[2].Value).ToDictionary(l => l.Groups[1].Value, l => Regex.Unescape(l.Groups[2].Value));
            string v = m.Groups[3].Value;
            samples.Add(new Sample(m.Groups[1].Value, labels, v switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, "NaN" => double.NaN, _ => double.Parse(v, CultureInfo.InvariantCulture) }));
        }
        return samples;
    }

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();

    // Prometheus' own parser and linter (promtool check metrics: exit 0 = parses, no lint problems; 3 = lint problems only).
    // Orleans' own meters (present when a silo ran in this process) have instruments without descriptions: "no help
    // text" on orleans_* is theirs; anything on ours, or a parse error, fails.
    static void PromtoolAccepts(string exposition)
    {
        var psi = new ProcessStartInfo(PrometheusServer.Binary("promtool"), "check metrics")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(exposition);
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        var ours = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => !l.StartsWith("orleans_", StringComparison.Ordinal)).ToArray();
        Assert.True(p.ExitCode == 0 || p.ExitCode == 3 && ours.Length == 0, $"promtool check metrics: exit {p.ExitCode}: {string.Join('\n', ours)}\n--- exposition ---\n{exposition}");
    }
}
