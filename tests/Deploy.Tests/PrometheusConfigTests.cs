using System.Text.Json;
using System.Text.RegularExpressions;

namespace SaeCluster.Deploy.Tests;

/// <summary>
/// deploy/prometheus and deploy/grafana as Prometheus' own tool reads them: the config and alert rules
/// check, the alert rules' unit tests pass, and the Grafana dashboard is well-formed (every panel queries
/// the dashboard's data source, every variable it uses is defined, ids are unique). The dashboard's
/// queries run against a live Prometheus in Silo.Tests' PrometheusScrapeTests.
/// </summary>
public sealed class PrometheusConfigTests
{
    static string Promtool => PrometheusServer.Binary("promtool");

    [Fact]
    public void The_Prometheus_config_and_its_rule_files_check()
    {
        var (code, output) = RepoCommand.Run(Promtool, "check config deploy/prometheus/prometheus.yml");
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS: 1 rule files found", output);
        Assert.Contains("SUCCESS: 8 rules found", output);
    }

    [Fact]
    public void Every_alert_has_a_unit_test_and_they_pass()
    {
        var (code, output) = RepoCommand.Run(Promtool, "test rules deploy/prometheus/alerts.test.yml");
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output);
        string rules = File.ReadAllText(Path.Combine(RepoCommand.Root, "deploy/prometheus/alerts.yml"));
        string tests = File.ReadAllText(Path.Combine(RepoCommand.Root, "deploy/prometheus/alerts.test.yml"));
        var alerts = Regex.Matches(rules, @"- alert: (\w+)").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(8, alerts.Length);
        Assert.All(alerts, a => Assert.Contains($"alertname: {a}", tests));
        foreach (string required in new[] { "SiloDown", "TrainerStalled", "LossNaN", "DeadLatentsHigh" })
            Assert.Contains("SaeCluster" + required, alerts);
    }

    [Fact]
    public void A_broken_rule_file_is_rejected_by_promtool()
    {
        using var dir = new TempDir();
        string broken = File.ReadAllText(Path.Combine(RepoCommand.Root, "deploy/prometheus/alerts.yml"))
            .Replace("expr: up{job=~\"saecluster.*\"} == 0", "expr: up{job=~\"saecluster.*\" == 0");
        File.WriteAllText(dir["alerts.yml"], broken);
        var (code, output) = RepoCommand.Run(Promtool, $"check rules {dir["alerts.yml"]}");
        Assert.NotEqual(0, code);
        Assert.Contains("SaeClusterSiloDown", output);
    }

    [Fact]
    public void The_Grafana_dashboard_is_well_formed()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoCommand.Root, "deploy/grafana/saecluster-dashboard.json")));
        var root = doc.RootElement;
        Assert.Equal("saecluster", root.GetProperty("uid").GetString());
        var variables = root.GetProperty("templating").GetProperty("list").EnumerateArray().Select(v => v.GetProperty("name").GetString()!).ToHashSet();
        Assert.Superset(new HashSet<string> { "datasource", "sweep", "layer", "site", "sae" }, variables);
        var panels = root.GetProperty("panels").EnumerateArray().ToArray();
        Assert.Equal(panels.Length, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        var titles = panels.Select(p => p.GetProperty("title").GetString()!).ToArray();
        foreach (string t in new[] { "Sweep progress", "L0 per site", "FVU per site", "Training tokens/s per trainer", "GEMM throughput per silo", "Leases held per silo", "Leases lost" })
            Assert.Contains(t, titles);
        foreach (var p in panels.Where(p => p.GetProperty("type").GetString() != "row"))
        {
            string title = p.GetProperty("title").GetString()!;
            Assert.Equal("${datasource}", p.GetProperty("datasource").GetProperty("uid").GetString());
            var grid = p.GetProperty("gridPos");
            Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
            var targets = p.GetProperty("targets").EnumerateArray().ToArray();
            Assert.True(targets.Length > 0, $"{title}: no query");
            foreach (var t in targets)
            {
                string expr = t.GetProperty("expr").GetString()!;
                foreach (Match m in Regex.Matches(expr, @"\$(\w+)"))
                    Assert.True(m.Groups[1].Value == "__rate_interval" || variables.Contains(m.Groups[1].Value), $"{title}: ${m.Groups[1].Value} is not a dashboard variable");
                Assert.Matches(@"\b(saecluster_\w+|up|process_\w+)\b", expr);
            }
        }
    }
}
