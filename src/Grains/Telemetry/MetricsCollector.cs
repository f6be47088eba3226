using System.Diagnostics.Metrics;
using System.Text;

namespace SaeCluster.Grains;

/// <summary>
/// Listens to <see cref="System.Diagnostics.Metrics"/> instruments (the meters whose names it is given,
/// by prefix) and aggregates what they record: counters and up-down counters as running sums, gauges as
/// their last value, histograms into the buckets the instrument advises. <see cref="Scrape"/> polls the
/// observable instruments and writes everything in the Prometheus text exposition format 0.0.4 — the
/// silo's <c>/metrics</c>. One collector per process is enough; several can run side by side.
/// </summary>
public sealed class MetricsCollector : IDisposable
{
    /// <summary>The content type of <see cref="Scrape"/>'s output.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Prometheus' default buckets, for histograms whose instrument gives no advice.</summary>
    static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    readonly MeterListener _listener = new();
    readonly List<MetricAggregate> _aggregates = [];
    readonly Lock _collect = new();

    /// <param name="meterPrefixes">Meters to listen to: a meter is taken when its name equals or starts with one of these followed by '.'.</param>
    public MetricsCollector(params string[] meterPrefixes)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!meterPrefixes.Any(p => instrument.Meter.Name == p || instrument.Meter.Name.StartsWith(p + ".", StringComparison.Ordinal))) return;
            var type = PrometheusNames.TypeOf(instrument);
            if (type == MetricType.Untyped) return;
            var aggregate = new MetricAggregate(instrument, type, type == MetricType.Histogram ? BucketsOf(instrument) : null);
            lock (_aggregates) _aggregates.Add(aggregate);
            listener.EnableMeasurementEvents(instrument, aggregate);
        };
        _listener.MeasurementsCompleted = (instrument, state) =>
        {
            if (state is MetricAggregate a) lock (_aggregates) _aggregates.Remove(a);
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, state) => ((MetricAggregate)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((i, value, tags, state) => ((MetricAggregate)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, state) => ((MetricAggregate)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>((i, value, tags, state) => ((MetricAggregate)state!).Record(value, tags));
        _listener.Start();
    }

    static double[] BucketsOf(Instrument i) => i switch
    {
        Histogram<double> { Advice.HistogramBucketBoundaries: { } b } => [.. b],
        Histogram<float> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<long> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<int> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        _ => DefaultBuckets,
    };

    /// <summary>Polls the observable instruments, then writes every metric family (sorted by name) in the text format.</summary>
    public string Scrape()
    {
        var output = new StringBuilder(16 * 1024);
        lock (_collect)
        {
            MetricAggregate[] all;
            lock (_aggregates) all = [.. _aggregates];
            foreach (var a in all) a.BeginCollect();
            _listener.RecordObservableInstruments();
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var a in all.OrderBy(a => a.Name, StringComparer.Ordinal))
                if (written.Add(a.Name)) a.WriteTo(output); // a second instrument with the same family name is left out
        }
        return output.ToString();
    }

    public void Dispose() => _listener.Dispose();
}
