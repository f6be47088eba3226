using System.CommandLine;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using SaeCluster.Compute;
using SaeCluster.Grains;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl bench metrics</c>: what /metrics costs. GEMM calls timed with an OpenTelemetry meter provider
/// (the Prometheus exporter the silos run) listening and without, interleaved, at shapes from the tiny to the real (each call records FLOPs and
/// seconds); the cost of one tagged counter add and histogram record; and the time to write a scrape of
/// a Gemma-Scope-sized sweep (every layer × 3 sites × 8 SAEs), as a share of a 15 s scrape interval.
/// </summary>
public static class BenchMetricsCommand
{
    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "alternating on/off rounds per GEMM shape", DefaultValueFactory = _ => 9 };
        var json = new Option<bool>("--json") { Description = "print results as JSON on stdout" };
        var cmd = new Command("metrics", "Overhead of the metrics instruments: GEMM calls with and without a listener, record cost, scrape time");
        cmd.Options.Add(rounds);
        cmd.Options.Add(json);
        cmd.SetAction((pr, ct) => CliErrors.Run(() => Run(pr.GetValue(rounds), pr.GetValue(json), ct)));
        return cmd;
    }

    sealed record GemmRow(string Shape, double MicrosOff, double MicrosOn, double OverheadPercent);

    static int Run(int rounds, bool json, CancellationToken ct)
    {
        // 1. GEMM: the same calls with the exporter listening (each call records 2 counters) and without
        (int M, int N, int K, string What)[] shapes =
        [
            (1, 1, 1, "the record cost alone"),
            (64, 64, 64, "tiny"),
            (1024, 256, 128, "quickstart SAE encoder (batch 1024, d 128, width 256)"),
            (4096, 2048, 256, "batch 4096, d 256, width 2048"),
        ];
        var gemm = new List<GemmRow>();
        foreach (var (m, n, k, what) in shapes)
        {
            ct.ThrowIfCancellationRequested();
            var a = Random(m * k, 1); var b = Random(k * n, 2); var c = new float[m * n];
            void Call() => Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            double flops = 2.0 * m * n * k;
            int calls = (int)Math.Clamp(2e9 / flops, 20, 200_000); // ~0.05–0.5 s per round
            for (int i = 0; i < 3; i++) Call(); // warm up
            var off = new List<double>(); var on = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                off.Add(TimeCalls(Call, calls));
                using (MetricsEndpoint.Start($"127.0.0.1:{Grains.FreePorts.Next()}").Provider) on.Add(TimeCalls(Call, calls));
            }
            double mOff = Median(off), mOn = Median(on);
            gemm.Add(new GemmRow($"{m}×{n}×{k} ({what})", mOff * 1e6, mOn * 1e6, (mOn / mOff - 1) * 100));
        }

        // 2. one record, with the exporter listening (what every blob call, shard write and GEMM call pays)
        var (provider, url) = MetricsEndpoint.Start($"127.0.0.1:{Grains.FreePorts.Next()}");
        using var _ = provider;
        using var http = new HttpClient();
        using var meter = new Meter(SaeClusterMetrics.MeterName); // a meter the exporter listens to
        var counter = meter.CreateCounter<long>("saecluster.bench.adds");
        var histogram = meter.CreateHistogram("saecluster.bench.seconds", "s", null, null, new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.01, 0.1, 1, 10] });
        var t1 = new KeyValuePair<string, object?>("precision", "f32");
        var t2 = new KeyValuePair<string, object?>("backend", "onednn");
        const int records = 2_000_000;
        double addNs = Median(Enumerable.Range(0, 5).Select(_ => TimeCalls(() => counter.Add(1, t1, t2), records)).ToList()) * 1e9;
        double histNs = Median(Enumerable.Range(0, 5).Select(_ => TimeCalls(() => histogram.Record(0.05, t1), records)).ToList()) * 1e9;

        // 3. a scrape of a Gemma-Scope-sized sweep: 26 layers × 3 sites, 8 SAEs each
        var trainers = new List<TrainerTelemetry>();
        foreach (int layer in Enumerable.Range(0, 26))
            foreach (string site in new[] { "res", "mlp", "att" })
            {
                var t = SaeClusterMetrics.Trainers.Add(new TrainerTelemetry("bench-scope", layer, site) { Phase = "training", Step = 1000, Tokens = 4_096_000 });
                t.Saes = [.. Enumerable.Range(0, 8).Select(i => new SaeTelemetry($"jumprelu-w{16384 << (i % 4)}-l0_{i}") { L0 = 40, Fvu = 0.2, DeadFraction = 0.01, Loss = 0.3, LearningRate = 7e-5 })];
                trainers.Add(t);
            }
        string scrape = http.GetStringAsync(url, ct).GetAwaiter().GetResult();
        var scrapes = new List<double>();
        for (int i = 0; i < 20; i++)
        {
            var sw = Stopwatch.StartNew();
            scrape = http.GetStringAsync(url, ct).GetAwaiter().GetResult(); // a whole scrape: collection, text format, HTTP
            scrapes.Add(sw.Elapsed.TotalSeconds);
        }
        foreach (var t in trainers) SaeClusterMetrics.Trainers.Remove(t, TimeSpan.Zero);
        double scrapeMs = Median(scrapes) * 1e3;
        int series = scrape.Split('\n').Count(l => l.Length > 0 && l[0] != '#');

        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                gemm_backend = Gemm.Backend,
                gemm = gemm.Select(g => new { shape = g.Shape, us_off = Math.Round(g.MicrosOff, 2), us_on = Math.Round(g.MicrosOn, 2), overhead_percent = Math.Round(g.OverheadPercent, 2) }),
                counter_add_ns = Math.Round(addNs, 1), histogram_record_ns = Math.Round(histNs, 1),
                scrape = new { series, bytes = scrape.Length, ms = Math.Round(scrapeMs, 2), share_of_15s_interval_percent = Math.Round(scrapeMs / 15_000 * 100, 4) },
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        var table = new Table().Border(TableBorder.Rounded).Title($"GEMM calls with / without the OpenTelemetry exporter ({Gemm.Backend}, median of {rounds} interleaved rounds)");
        foreach (var h in new[] { "shape m×n×k", "µs/call off", "µs/call on", "overhead" }) table.AddColumn(h);
        foreach (var g in gemm) table.AddRow(Markup.Escape(g.Shape), $"{g.MicrosOff:F2}", $"{g.MicrosOn:F2}", $"{g.OverheadPercent:+0.00;-0.00} %");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"one tagged counter add: [bold]{addNs:F0} ns[/]; one histogram record: [bold]{histNs:F0} ns[/] (exporter listening)");
        AnsiConsole.MarkupLine($"scrape of a Gemma-Scope-sized sweep (78 trainers × 8 SAEs): [bold]{series:N0}[/] series, {scrape.Length / 1024.0:F0} KiB in [bold]{scrapeMs:F1} ms[/] = {scrapeMs / 15_000 * 100:F3} % of a 15 s scrape interval");
        return 0;
    }

    static double TimeCalls(Action call, int n)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < n; i++) call();
        return sw.Elapsed.TotalSeconds / n;
    }

    static double Median(List<double> xs)
    {
        xs.Sort();
        return xs.Count % 2 == 1 ? xs[xs.Count / 2] : (xs[xs.Count / 2 - 1] + xs[xs.Count / 2]) / 2;
    }

    static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() - 0.5);
        return x;
    }
}
