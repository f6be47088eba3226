using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// The Prometheus text exposition written from System.Diagnostics.Metrics instruments: names and units,
/// types, label escaping, histograms, observable instruments — and Prometheus' own linter accepts it.
/// Each test uses a meter of its own, so tests running in parallel do not see each other's series.
/// </summary>
public sealed class MetricsExpositionTests : IDisposable
{
    readonly string _meterName = "SaeCluster.Test" + Guid.NewGuid().ToString("N")[..8];
    readonly Meter _meter;
    readonly MetricsCollector _collector;

    public MetricsExpositionTests()
    {
        _collector = new MetricsCollector(_meterName);
        _meter = new Meter(_meterName);
    }

    public void Dispose()
    {
        _meter.Dispose();
        _collector.Dispose();
    }

    [Theory]
    [InlineData("saecluster.blob.written", "By", MetricType.Counter, "saecluster_blob_written_bytes_total")]
    [InlineData("saecluster.gemm.duration", "s", MetricType.Counter, "saecluster_gemm_duration_seconds_total")]
    [InlineData("saecluster.sae.fvu", "1", MetricType.Gauge, "saecluster_sae_fvu_ratio")]
    [InlineData("saecluster.producer.tokens", "{token}", MetricType.Counter, "saecluster_producer_tokens_total")]
    [InlineData("saecluster.sae.l0", "{latent}", MetricType.Gauge, "saecluster_sae_l0")]
    [InlineData("saecluster.trainer.speed", "{token}/s", MetricType.Gauge, "saecluster_trainer_speed_per_second")]
    [InlineData("saecluster.blob.rate", "By/s", MetricType.Gauge, "saecluster_blob_rate_bytes_per_second")]
    [InlineData("http.server.request.duration", "s", MetricType.Histogram, "http_server_request_duration_seconds")]
    [InlineData("requests_total", "", MetricType.Counter, "requests_total")]
    [InlineData("latency_seconds", "s", MetricType.Histogram, "latency_seconds")]
    [InlineData("9lives-x", null, MetricType.Gauge, "_9lives_x")]
    public void Names_follow_the_Prometheus_conventions(string name, string? unit, MetricType type, string expected) =>
        Assert.Equal(expected, PrometheusNames.Family(name, unit, type));

    [Fact]
    public void Counters_with_labels_sum_per_label_set_and_escape_their_values()
    {
        var c = _meter.CreateCounter<long>("test.requests", "{request}", "Requests\nwith a back\\slash");
        c.Add(2, new KeyValuePair<string, object?>("path", "/a"), new KeyValuePair<string, object?>("code", 200));
        c.Add(3, new KeyValuePair<string, object?>("code", 200), new KeyValuePair<string, object?>("path", "/a")); // same set, other order
        c.Add(1, new KeyValuePair<string, object?>("path", "say \"hi\"\\\n"), new KeyValuePair<string, object?>("code", 500));
        string text = _collector.Scrape();
        Assert.Contains("# HELP test_requests_total Requests\\nwith a back\\\\slash\n# TYPE test_requests_total counter\n", text);
        Assert.Contains("test_requests_total{code=\"200\",path=\"/a\"} 5\n", text);
        Assert.Contains("test_requests_total{code=\"500\",path=\"say \\\"hi\\\"\\\\\\n\"} 1\n", text);
        PromtoolAccepts(text);
    }

    [Fact]
    public void Histograms_write_cumulative_buckets_sum_and_count()
    {
        var h = _meter.CreateHistogram("test.write.duration", "s", "Write time", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 10] });
        foreach (double v in new[] { 0.05, 0.1, 0.5, 2, 20, 30 }) h.Record(v, new KeyValuePair<string, object?>("op", "put"));
        string text = _collector.Scrape();
        Assert.Contains("# TYPE test_write_duration_seconds histogram\n", text);
        Assert.Contains("""
            test_write_duration_seconds_bucket{op="put",le="0.1"} 2
            test_write_duration_seconds_bucket{op="put",le="1"} 3
            test_write_duration_seconds_bucket{op="put",le="10"} 4
            test_write_duration_seconds_bucket{op="put",le="+Inf"} 6
            test_write_duration_seconds_sum{op="put"} 52.65
            test_write_duration_seconds_count{op="put"} 6

            """.Replace("\r", ""), text);
        PromtoolAccepts(text);
    }

    [Fact]
    public void Histograms_without_advice_get_the_Prometheus_default_buckets()
    {
        _meter.CreateHistogram<double>("test.plain", "s").Record(0.3);
        string text = _collector.Scrape();
        Assert.Contains("test_plain_seconds_bucket{le=\"0.005\"} 0\n", text);
        Assert.Contains("test_plain_seconds_bucket{le=\"0.5\"} 1\n", text);
        Assert.Contains("test_plain_seconds_bucket{le=\"10\"} 1\n", text);
    }

    [Fact]
    public void Observable_instruments_report_what_is_there_at_each_scrape()
    {
        var live = new List<(string Site, double Fvu)> { ("res", 0.25), ("mlp", double.NaN) };
        _meter.CreateObservableGauge("test.fvu", () => live.Select(l => new Measurement<double>(l.Fvu, new KeyValuePair<string, object?>("site", l.Site))), "1", "FVU");
        _meter.CreateObservableCounter("test.tokens", () => 4096L, "{token}", "Tokens");
        string first = _collector.Scrape();
        Assert.Contains("test_fvu_ratio{site=\"res\"} 0.25\n", first);
        Assert.Contains("test_fvu_ratio{site=\"mlp\"} NaN\n", first);
        Assert.Contains("# TYPE test_tokens_total counter\ntest_tokens_total 4096\n", first);
        PromtoolAccepts(first);

        live.RemoveAt(1);
        live[0] = ("res", 0.125);
        string second = _collector.Scrape();
        Assert.Contains("test_fvu_ratio{site=\"res\"} 0.125\n", second);
        Assert.DoesNotContain("mlp", second);
    }

    [Fact]
    public void Up_down_counters_and_gauges_are_gauges_and_infinities_are_spelled_out()
    {
        var u = _meter.CreateUpDownCounter<int>("test.inflight", "{request}");
        u.Add(3);
        u.Add(-1);
        var g = _meter.CreateGauge<double>("test.temperature", "Cel");
        g.Record(double.PositiveInfinity);
        g.Record(double.NegativeInfinity);
        string text = _collector.Scrape();
        Assert.Contains("# TYPE test_inflight gauge\ntest_inflight 2\n", text);
        Assert.Contains("# TYPE test_temperature_celsius gauge\ntest_temperature_celsius -Inf\n", text);
        PromtoolAccepts(text);
    }

    [Fact]
    public async Task Concurrent_records_lose_nothing()
    {
        var c = _meter.CreateCounter<double>("test.work", "s");
        var h = _meter.CreateHistogram("test.size", "By", null, null, new InstrumentAdvice<double> { HistogramBucketBoundaries = [10, 100] });
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                c.Add(0.5, new KeyValuePair<string, object?>("worker", t % 2));
                h.Record(i % 200);
            }
        })));
        string text = _collector.Scrape();
        Assert.Contains("test_work_seconds_total{worker=\"0\"} 20000\n", text);
        Assert.Contains("test_work_seconds_total{worker=\"1\"} 20000\n", text);
        Assert.Contains("test_size_bytes_count 80000\n", text);
        Assert.Contains("test_size_bytes_bucket{le=\"10\"} 4400\n", text); // 0..10 of every 200
    }

    [Fact]
    public void The_silo_instruments_pass_promtool_with_a_live_trainer_and_sweep()
    {
        using var collector = SaeClusterMetrics.CreateCollector();
        var trainer = SaeClusterMetrics.Trainers.Add(new TrainerTelemetry("expo-test", 3, "res") { Phase = "training", Step = 10, Tokens = 40960 });
        trainer.Saes = [new SaeTelemetry("topk-w64-k8") { L0 = 8, Fvu = 0.2, DeadFraction = 0.01, Loss = 0.3, LearningRate = 4e-4 }];
        var sweep = SaeClusterMetrics.Sweeps.Add(new SweepTelemetry("expo-test") { Progress = 0.5 });
        try
        {
            SaeClusterMetrics.BlobWritten.Add(1234);
            Compute.Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[16], 4, new float[16], 4, 0f, new float[16], 4);
            string text = collector.Scrape();
            Assert.Contains("saecluster_sae_fvu_ratio{layer=\"3\",sae=\"topk-w64-k8\",site=\"res\",sweep=\"expo-test\"} 0.2\n", text);
            Assert.Contains("saecluster_sae_tokens_total{layer=\"3\",sae=\"topk-w64-k8\",site=\"res\",sweep=\"expo-test\"} 40960\n", text);
            Assert.Contains("saecluster_trainer_phase{layer=\"3\",phase=\"training\",site=\"res\",sweep=\"expo-test\"} 1\n", text);
            Assert.Contains("saecluster_sweep_progress_ratio{sweep=\"expo-test\"} 0.5\n", text);
            Assert.Matches(@"saecluster_gemm_flops_total\{backend=""\w+"",precision=""f32""\} \d+", text);
            Assert.Contains("# TYPE process_cpu_seconds_total counter\n", text);
            Assert.Contains("# TYPE process_resident_memory_bytes gauge\n", text);
            PromtoolAccepts(text);

            SaeClusterMetrics.Trainers.Remove(trainer, TimeSpan.Zero);
            SaeClusterMetrics.Sweeps.Remove(sweep, TimeSpan.FromMinutes(1)); // a finished sweep lingers
            text = collector.Scrape();
            Assert.DoesNotContain("sweep=\"expo-test\",", text.Replace("saecluster_sweep_", ""));
            Assert.Contains("saecluster_sweep_progress_ratio{sweep=\"expo-test\"} 0.5\n", text);
        }
        finally
        {
            SaeClusterMetrics.Trainers.Remove(trainer, TimeSpan.Zero);
            SaeClusterMetrics.Sweeps.Remove(sweep, TimeSpan.Zero);
        }
    }

    // Prometheus' own parser and linter (promtool check metrics: exit 0 = parses, no lint problems).
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
        Assert.True(p.ExitCode == 0, $"promtool check metrics: exit {p.ExitCode}: {output}\n--- exposition ---\n{exposition}");
    }
}
