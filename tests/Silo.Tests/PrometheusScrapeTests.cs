using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SaeCluster.Silo.Tests;

/// <summary>
/// A real Prometheus (Debian's) scrapes a silo process every second, with deploy/prometheus/alerts.yml
/// loaded, while a tiny sweep trains; the test reads the numbers back through Prometheus' query API,
/// checks that the alert rules evaluate cleanly and stay quiet, and runs every query of the Grafana
/// dashboard against it.
/// </summary>
[Collection("silo")]
public sealed class PrometheusScrapeTests
{
    static string Deploy(string relative) => Path.Combine(SiloProcess.RepositoryRoot, "deploy", relative);

    [Fact]
    public async Task Prometheus_sees_a_sweep_train_through_the_silos_metrics()
    {
        using var dir = new TempDir();
        await using var silo = await SiloProcess.StartAsync(dir.Path, "t0ken",
            "--cluster", dir["cluster"], "--blobs", dir["blobs"], "--id", "prom-silo", "--work-dir", dir["work"],
            "--data-root", SiloProcess.RepositoryRoot, "--slots", "producer=1,trainer=2");
        string target = new Uri(silo.Url).Authority;
        await using var prometheus = await PrometheusServer.StartAsync([target], ruleFiles: [Deploy("prometheus/alerts.yml")]);
        await prometheus.WaitForAsync("up{job=\"saecluster\"}", r => r.Count == 1 && r[0].Value == 1, TimeSpan.FromSeconds(30));

        using var http = silo.Http();
        var submit = await http.PostAsync("/api/sweeps", new StringContent(Sweeps.Tiny("prom", tokens: 65_536), null, "text/yaml"));
        Assert.True(submit.IsSuccessStatusCode, await submit.Content.ReadAsStringAsync());

        // mid-run: the trainers show up (waiting for shards or training), then the sweep ends
        await prometheus.WaitForAsync("saecluster_trainer_phase{sweep=\"prom\",phase!=\"done\"}", r => r.Count >= 1, TimeSpan.FromSeconds(60));
        await prometheus.WaitForAsync("saecluster_sweep_state{sweep=\"prom\",state=\"done\"}", r => r.Count == 1, TimeSpan.FromSeconds(120));
        await Task.Delay(TimeSpan.FromSeconds(2)); // one more scrape after the end

        var status = await http.GetFromJsonAsync<JsonElement>("/api/sweeps/prom");
        Assert.Equal("done", status.GetProperty("state").GetString());

        // per SAE: the final numbers, one series per (layer, site, sae)
        var tokens = await prometheus.QueryAsync("saecluster_sae_tokens_total{sweep=\"prom\"}");
        Assert.Equal(["0", "1"], tokens.Select(s => s.Labels["layer"]).Order());
        Assert.All(tokens, s => Assert.Equal(65_536, s.Value));
        Assert.All(tokens, s => Assert.Equal(("res", "topk-w64-k4"), (s.Labels["site"], s.Labels["sae"])));
        Assert.All(await prometheus.QueryAsync("saecluster_sae_fvu_ratio{sweep=\"prom\"}"), s => Assert.InRange(s.Value, 0.001, 1.0));
        Assert.All(await prometheus.QueryAsync("saecluster_sae_l0{sweep=\"prom\"}"), s => Assert.InRange(s.Value, 0.5, 4.0));
        Assert.All(await prometheus.QueryAsync("saecluster_sae_dead_latents_ratio{sweep=\"prom\"}"), s => Assert.InRange(s.Value, 0, 1));
        Assert.All(await prometheus.QueryAsync("saecluster_sae_learning_rate{sweep=\"prom\"}"), s => Assert.True(s.Value > 0));
        Assert.All(await prometheus.QueryAsync("saecluster_sae_loss{sweep=\"prom\"}"), s => Assert.True(double.IsFinite(s.Value) && s.Value > 0));
        Assert.Equal(2, (await prometheus.QueryAsync("saecluster_trainer_phase{sweep=\"prom\",phase=\"done\"}")).Count);

        // the numbers moved while it ran: Prometheus saw each trainer's tokens change and the sweep's progress climb
        Assert.All(await prometheus.QueryAsync("changes(saecluster_trainer_tokens_total{sweep=\"prom\"}[5m])"), s => Assert.True(s.Value >= 1, $"tokens changed {s.Value} times"));
        Assert.InRange(Scalar(await prometheus.QueryAsync("min_over_time(saecluster_sweep_progress_ratio{sweep=\"prom\"}[5m])")), 0, 0.99);
        Assert.Equal(1, Scalar(await prometheus.QueryAsync("saecluster_sweep_progress_ratio{sweep=\"prom\"}")));

        // producers, silo, blobs, GEMM
        // (the corpus is shorter than the budget: the trainers go round it again; the metric agrees with the API)
        long produced = status.GetProperty("tokensProduced").GetInt64();
        Assert.True(produced > 10_000);
        Assert.Equal(produced, Scalar(await prometheus.QueryAsync("saecluster_producer_tokens_total{sweep=\"prom\"}")));
        Assert.True(Scalar(await prometheus.QueryAsync("sum(saecluster_producer_shard_write_duration_seconds_count{sweep=\"prom\"})")) >= 2);
        Assert.Equal(2, Scalar(await prometheus.QueryAsync("saecluster_silo_activations_total{kind=\"trainer\",outcome=\"done\"}")));
        Assert.True(Scalar(await prometheus.QueryAsync("max_over_time(saecluster_silo_leases_held{silo=\"prom-silo\"}[5m])")) >= 2);
        Assert.Equal(0, Scalar(await prometheus.QueryAsync("sum(saecluster_silo_leases_lost_total)")));
        Assert.Equal(2, Scalar(await prometheus.QueryAsync("saecluster_silo_slots{silo=\"prom-silo\",kind=\"trainer\"}")));
        Assert.True(Scalar(await prometheus.QueryAsync("sum(saecluster_blob_written_bytes_total)")) > 1e5);
        Assert.True(Scalar(await prometheus.QueryAsync("sum(saecluster_gemm_flops_total)")) > 1e8);
        Assert.True(Scalar(await prometheus.QueryAsync("sum(saecluster_lease_operation_duration_seconds_count{op=\"claim\"})")) >= 2); // each trainer's epoch, at least
        Assert.True(Scalar(await prometheus.QueryAsync("sum(saecluster_lease_operation_duration_seconds_count{op=\"commit\"})")) >= 2);
        Assert.True(Scalar(await prometheus.QueryAsync("sum(orleans_catalog_activations)")) >= 1); // Orleans' own meters are exported too

        // the alert rules evaluate without errors, and a healthy sweep fires none of them
        using (var api = new HttpClient())
        {
            var rules = await api.GetFromJsonAsync<JsonElement>($"{prometheus.Url}/api/v1/rules");
            var all = rules.GetProperty("data").GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).ToArray();
            Assert.Equal(8, all.Length);
            Assert.All(all, r => Assert.True(r.GetProperty("health").GetString() == "ok", $"{r.GetProperty("name")}: {r}"));
        }
        Assert.Empty(await prometheus.QueryAsync("ALERTS{alertstate=\"firing\"}"));

        // every dashboard query runs; all but the error panel have data after this sweep
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Deploy("grafana/saecluster-dashboard.json")));
        var empty = new List<string>();
        foreach (var panel in dashboard.RootElement.GetProperty("panels").EnumerateArray().Where(p => p.TryGetProperty("targets", out _)))
        {
            string title = panel.GetProperty("title").GetString()!;
            foreach (var t in panel.GetProperty("targets").EnumerateArray())
            {
                string expr = Regex.Replace(t.GetProperty("expr").GetString()!, @"\$__rate_interval", "10s");
                expr = Regex.Replace(expr, @"\$(sweep|layer|site|sae)\b", ".*");
                var result = await prometheus.QueryAsync(expr); // throws on a query Prometheus rejects
                if (result.Count == 0) empty.Add($"{title}: {expr}");
            }
        }
        Assert.True(empty.All(e => e.StartsWith("Errors by kind", StringComparison.Ordinal)), "dashboard queries without data:\n" + string.Join("\n", empty));
    }

    [Fact]
    public async Task A_diverging_SAE_fires_the_loss_and_divergence_alerts()
    {
        using var dir = new TempDir();
        await using var silo = await SiloProcess.StartAsync(dir.Path, null,
            "--cluster", dir["cluster"], "--blobs", dir["blobs"], "--id", "nan-silo", "--work-dir", dir["work"],
            "--data-root", SiloProcess.RepositoryRoot, "--slots", "producer=1,trainer=1");
        await using var prometheus = await PrometheusServer.StartAsync([new Uri(silo.Url).Authority], ruleFiles: [Deploy("prometheus/alerts.yml")]);
        await prometheus.WaitForAsync("up{job=\"saecluster\"}", r => r.Count == 1 && r[0].Value == 1, TimeSpan.FromSeconds(30));

        // an absurd learning rate: the loss is infinite at the first step, the trainer fails, the sweep fails
        using var http = silo.Http();
        string yaml = Sweeps.Tiny("diverge", layers: "[0]").Replace("    k: 4\n", "    k: 4\n    lr: 1e12\n");
        Assert.Contains("lr: 1e12", yaml);
        var submit = await http.PostAsync("/api/sweeps", new StringContent(yaml, null, "text/yaml"));
        Assert.True(submit.IsSuccessStatusCode, await submit.Content.ReadAsStringAsync());

        var firing = await prometheus.WaitForAsync("ALERTS{alertstate=\"firing\"}",
            r => new[] { "SaeClusterLossNaN", "SaeClusterTrainingDiverged", "SaeClusterSweepFailed" }.All(a => r.Any(s => s.Labels["alertname"] == a)), TimeSpan.FromSeconds(60));
        var nan = firing.Single(s => s.Labels["alertname"] == "SaeClusterLossNaN");
        Assert.Equal(("diverge", "0", "res", "topk-w64-k4"), (nan.Labels["sweep"], nan.Labels["layer"], nan.Labels["site"], nan.Labels["sae"]));
        Assert.Equal("diverge", firing.Single(s => s.Labels["alertname"] == "SaeClusterSweepFailed").Labels["sweep"]);
        Assert.Equal(1, Scalar(await prometheus.QueryAsync("saecluster_errors_total{where=\"trainer\",error=\"diverged\"}")));
        Assert.Equal(1, Scalar(await prometheus.QueryAsync("saecluster_trainer_phase{sweep=\"diverge\",phase=\"failed\"}")));
        Assert.DoesNotContain(firing, s => s.Labels["alertname"] is "SaeClusterSiloDown" or "SaeClusterTrainerStalled");
    }

    [Fact]
    public async Task Saectl_run_serves_metrics_that_Prometheus_scrapes()
    {
        using var dir = new TempDir();
        int port = LoopbackPorts.Free();
        await using var prometheus = await PrometheusServer.StartAsync([$"127.0.0.1:{port}"], job: "saectl-run");
        await prometheus.WaitForAsync("up{job=\"saectl-run\"}", r => r.Count == 1, TimeSpan.FromSeconds(30)); // scraped (and down) before the run starts
        File.WriteAllText(dir["sweep.yaml"], Sweeps.Tiny("embedded", tokens: 65_536).Replace("models/tiny-gemma2-code", Path.Combine(SiloProcess.RepositoryRoot, "models", "tiny-gemma2-code")));

        var run = Task.Run(() => Saectl.Run("run", dir["sweep.yaml"], "--dir", dir["runs"], "--metrics", $"127.0.0.1:{port}", "--quiet"));
        var result = await run;
        Assert.True(result.ExitCode == 0, result.ToString());
        // what Prometheus scraped while it ran: both trainers, and tokens going up
        var seen = await prometheus.QueryAsync("max by (layer) (max_over_time(saecluster_trainer_tokens_total{job=\"saectl-run\",sweep=\"embedded\"}[5m]))");
        Assert.Equal(["0", "1"], seen.Select(s => s.Labels["layer"]).Order());
        Assert.All(seen, s => Assert.True(s.Value > 0, $"layer {s.Labels["layer"]}: {s.Value} tokens"));
    }

    static double Scalar(IReadOnlyList<PrometheusServer.Sample> r) => Assert.Single(r).Value;
}
