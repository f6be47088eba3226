using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace SaeCluster.Grains;

/// <summary>
/// What one instrument has recorded, per label set: a running sum (counters, up-down counters), the last
/// value (gauges) or bucket counts with sum and count (histograms). Synchronous instruments keep their
/// series for the life of the process; observable ones are rebuilt at every collection.
/// </summary>
sealed class MetricAggregate(Instrument instrument, MetricType type, double[]? buckets)
{
    readonly bool _observable = instrument.IsObservable;
    // observable instruments and Gauge<T> report values; counters and up-down counters report increments
    readonly bool _lastValue = instrument.IsObservable || instrument.GetType().GetGenericTypeDefinition() == typeof(Gauge<>);
    readonly Lock _add = new();
    MetricSeries[] _series = []; // synchronous instruments: few series, found by a scan that allocates nothing
    readonly Dictionary<string, MetricSeries> _observed = new(StringComparer.Ordinal); // observable: rebuilt per collection, by labels

    public string Name { get; } = PrometheusNames.Family(instrument.Name, instrument.Unit, type);

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var s = _observable ? Observed(tags) : Find(tags) ?? Add(tags);
        switch (type)
        {
            case MetricType.Histogram: s.Observe(value, buckets!); break;
            case MetricType.Counter or MetricType.Gauge when _lastValue: s.Set(value); break;
            default: s.Add(value); break;
        }
    }


    MetricSeries? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var s in Volatile.Read(ref _series))
            if (s.Matches(tags)) return s;
        return null;
    }

    MetricSeries Add(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_add)
        {
            if (Find(tags) is { } existing) return existing;
            var s = new MetricSeries(tags, buckets?.Length + 1 ?? 0);
            Volatile.Write(ref _series, [.. _series, s]);
            return s;
        }
    }

    // an observation during a collection: a new series, or the same labels observed twice (by two silos in one process)
    MetricSeries Observed(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var s = new MetricSeries(tags, 0);
        lock (_add)
        {
            if (_observed.TryGetValue(s.Labels, out var existing)) return existing;
            _observed[s.Labels] = s;
            return s;
        }
    }

    /// <summary>Observable instruments report afresh at each collection: forget the last one's series.</summary>
    public void BeginCollect()
    {
        if (_observable) lock (_add) _observed.Clear();
    }

    public void WriteTo(StringBuilder b)
    {
        MetricSeries[] series;
        if (_observable) lock (_add) series = [.. _observed.Values];
        else series = Volatile.Read(ref _series);
        if (series.Length == 0) return;
        b.Append("# HELP ").Append(Name).Append(' ').Append(PrometheusNames.Help(instrument.Description ?? instrument.Name)).Append('\n');
        b.Append("# TYPE ").Append(Name).Append(' ').Append(type switch
        {
            MetricType.Counter => "counter", MetricType.Gauge => "gauge", MetricType.Histogram => "histogram", _ => "untyped",
        }).Append('\n');
        foreach (var s in series.OrderBy(s => s.Labels, StringComparer.Ordinal))
        {
            if (type != MetricType.Histogram)
            {
                Sample(b, Name, s.Labels, null, s.Value);
                continue;
            }
            var (counts, sum) = s.Snapshot();
            long cumulative = 0;
            for (int i = 0; i < buckets!.Length; i++)
            {
                cumulative += counts[i];
                Sample(b, Name + "_bucket", s.Labels, PrometheusNames.Value(buckets[i]), cumulative);
            }
            cumulative += counts[^1];
            Sample(b, Name + "_bucket", s.Labels, "+Inf", cumulative);
            Sample(b, Name + "_sum", s.Labels, null, sum);
            Sample(b, Name + "_count", s.Labels, null, cumulative); // = the +Inf bucket, as the format requires
        }
    }

    static void Sample(StringBuilder b, string name, string labels, string? le, double value)
    {
        b.Append(name);
        if (labels.Length > 0 || le != null)
        {
            b.Append('{').Append(labels);
            if (le != null) b.Append(labels.Length > 0 ? "," : "").Append("le=\"").Append(le).Append('"');
            b.Append('}');
        }
        b.Append(' ').Append(PrometheusNames.Value(value)).Append('\n');
    }
}

/// <summary>One label set of an instrument: its rendered labels and its value, updated without locks.</summary>
sealed class MetricSeries
{
    readonly string[] _keys;
    readonly object?[] _values;
    double _value;
    readonly long[] _counts;

    public MetricSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags, int bucketCount)
    {
        var sorted = tags.ToArray().OrderBy(t => t.Key, StringComparer.Ordinal).ToArray();
        _keys = [.. sorted.Select(t => t.Key)];
        _values = [.. sorted.Select(t => t.Value)];
        var b = new StringBuilder();
        foreach (var (k, v) in sorted)
        {
            if (b.Length > 0) b.Append(',');
            b.Append(PrometheusNames.Label(k)).Append("=\"");
            PrometheusNames.AppendLabelValue(b, Convert.ToString(v, CultureInfo.InvariantCulture) ?? "");
            b.Append('"');
        }
        Labels = b.ToString();
        _counts = new long[bucketCount];
    }

    /// <summary>The labels as they go between the braces: <c>a="x",b="y"</c>, sorted by name.</summary>
    public string Labels { get; }

    public double Value => Volatile.Read(ref _value);

    public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length != _keys.Length) return false;
        foreach (var t in tags)
        {
            int i = Array.IndexOf(_keys, t.Key);
            if (i < 0 || !Equals(_values[i], t.Value)) return false;
        }
        return true;
    }

    public void Set(double v) => Volatile.Write(ref _value, v);

    public void Add(double v)
    {
        double current = Volatile.Read(ref _value);
        while (true)
        {
            double seen = Interlocked.CompareExchange(ref _value, current + v, current);
            if (seen.Equals(current)) return;
            current = seen;
        }
    }

    public void Observe(double v, double[] bounds)
    {
        int i = Array.BinarySearch(bounds, v);
        if (i < 0) i = ~i; // the first bound ≥ v (le is inclusive); past the last one: the +Inf bucket
        Interlocked.Increment(ref _counts[i]);
        Add(v);
    }

    /// <summary>Bucket counts and sum (each read atomically; a scrape racing a record may see it in part).</summary>
    public (long[] Counts, double Sum) Snapshot() => ([.. _counts.Select((_, i) => Interlocked.Read(ref _counts[i]))], Value);
}
