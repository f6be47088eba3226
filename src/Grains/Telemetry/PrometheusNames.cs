using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace SaeCluster.Grains;

/// <summary>
/// How an instrument's OpenTelemetry-style name and UCUM unit become a Prometheus metric name
/// (<c>saecluster.blob.written</c> in <c>By</c> → <c>saecluster_blob_written_bytes_total</c>), and the
/// escaping rules of the text exposition format 0.0.4.
/// </summary>
public static class PrometheusNames
{
    /// <summary>The metric family name: sanitized name, unit suffix (unless already there), <c>_total</c> for counters.</summary>
    public static string Family(string name, string? unit, MetricType type)
    {
        var b = new StringBuilder(Sanitize(name, allowColon: true));
        string suffix = UnitSuffix(unit, type);
        if (suffix.Length > 0 && !EndsWithWord(b, suffix)) b.Append('_').Append(suffix);
        if (type == MetricType.Counter && !EndsWithWord(b, "total")) b.Append("_total");
        return b.ToString();
    }

    /// <summary>UCUM unit → Prometheus base-unit word: s → seconds, By → bytes, 1 → ratio (gauges only); {annotations} are dropped; a/b → a_per_b.</summary>
    public static string UnitSuffix(string? unit, MetricType type)
    {
        if (string.IsNullOrWhiteSpace(unit)) return "";
        if (unit == "1") return type == MetricType.Gauge ? "ratio" : "";
        var parts = unit.Split('/');
        var words = new List<string>();
        foreach (string p in parts)
        {
            string w = UnitWord(p.Trim());
            if (w.Length > 0) words.Add(w);
        }
        if (words.Count == 0) return "";
        if (words.Count == 1) return parts.Length == 1 ? words[0] : (parts[0].Trim().StartsWith('{') ? "per_" + Singular(words[0]) : words[0]);
        return string.Join("_per_", words.Select((w, i) => i == 0 ? w : Singular(w)));
    }

    static string UnitWord(string u) => u switch
    {
        "" => "",
        _ when u.StartsWith('{') => "", // an annotation ({token}, {latent}) is not a unit
        "s" => "seconds", "ms" => "milliseconds", "us" => "microseconds", "ns" => "nanoseconds",
        "min" => "minutes", "h" => "hours", "d" => "days",
        "By" => "bytes", "KiBy" => "kibibytes", "MiBy" => "mebibytes", "GiBy" => "gibibytes",
        "Hz" => "hertz", "%" => "percent", "Cel" => "celsius",
        _ => Sanitize(u, allowColon: false),
    };

    static string Singular(string w) => w switch
    {
        "seconds" => "second", "minutes" => "minute", "hours" => "hour", "days" => "day", "milliseconds" => "millisecond",
        _ => w,
    };

    static bool EndsWithWord(StringBuilder b, string word) =>
        b.Length >= word.Length && b.ToString(b.Length - word.Length, word.Length) == word && (b.Length == word.Length || b[b.Length - word.Length - 1] == '_');

    /// <summary>A valid metric (<c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>) or label name (<c>[a-zA-Z_][a-zA-Z0-9_]*</c>): other characters become '_'.</summary>
    public static string Sanitize(string name, bool allowColon)
    {
        var b = new StringBuilder(name.Length + 1);
        foreach (char c in name)
            b.Append(c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '_' || allowColon && c == ':' ? c : '_');
        if (b.Length == 0 || char.IsAsciiDigit(b[0])) b.Insert(0, '_');
        return b.ToString();
    }

    /// <summary>A label name from a tag key (<c>gc.heap.generation</c> → <c>gc_heap_generation</c>).</summary>
    public static string Label(string key) => Sanitize(key, allowColon: false);

    /// <summary>A label value inside double quotes: backslash, double quote and line feed escaped.</summary>
    public static void AppendLabelValue(StringBuilder b, string value)
    {
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': b.Append(@"\\"); break;
                case '"': b.Append("\\\""); break;
                case '\n': b.Append(@"\n"); break;
                default: b.Append(c); break;
            }
        }
    }

    /// <summary>HELP text: backslash and line feed escaped.</summary>
    public static string Help(string text) => text.Replace(@"\", @"\\").Replace("\n", @"\n");

    /// <summary>A sample value as Prometheus reads it: +Inf, -Inf, NaN, or the shortest round-trip decimal.</summary>
    public static string Value(double v) =>
        double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The Prometheus type of an instrument.</summary>
    public static MetricType TypeOf(Instrument i)
    {
        var t = i.GetType();
        if (!t.IsGenericType) return MetricType.Untyped;
        var g = t.GetGenericTypeDefinition();
        if (g == typeof(Counter<>) || g == typeof(ObservableCounter<>)) return MetricType.Counter;
        if (g == typeof(Histogram<>)) return MetricType.Histogram;
        if (g == typeof(UpDownCounter<>) || g == typeof(ObservableUpDownCounter<>) || g == typeof(ObservableGauge<>) || g == typeof(Gauge<>)) return MetricType.Gauge;
        return MetricType.Untyped;
    }
}

/// <summary>The Prometheus metric types this exporter writes.</summary>
public enum MetricType { Untyped, Counter, Gauge, Histogram }
