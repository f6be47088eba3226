using System.Globalization;
using System.Text.RegularExpressions;
using ScottPlot;

namespace SaeCluster.Client.Report;

/// <summary>
/// The report's plots, drawn with ScottPlot and returned as inline SVG (no XML declaration, a viewBox so they
/// scale, element ids prefixed so several SVGs can share one page). A plot with no data to show returns null.
/// </summary>
internal sealed partial class ReportPlots
{
    const int Width = 640, Height = 400;
    static readonly IPalette Palette = new ScottPlot.Palettes.Category10();
    int drawn;

    /// <summary>
    /// A Pareto plot: L0 on x against <paramref name="y"/>, one series per (architecture, width), its points
    /// connected in L0 order and labelled (<see cref="SaeRecord.PointLabel"/>).
    /// </summary>
    public string? Pareto(IReadOnlyList<SaeRecord> saes, Func<SaeRecord, double?> y, string yLabel)
    {
        var series = saes.Where(s => Finite(s.L0) && Finite(y(s)))
            .GroupBy(s => (s.Family, s.Width))
            .OrderBy(g => g.Key.Family, StringComparer.Ordinal).ThenBy(g => g.Key.Width)
            .ToArray();
        if (series.Length == 0) return null;
        using var plt = NewPlot("L0 (active latents per token)", yLabel);
        var l0s = series.SelectMany(g => g).Select(s => s.L0!.Value).ToArray();
        double middle = (l0s.Min() + l0s.Max()) / 2;
        for (int i = 0; i < series.Length; i++)
        {
            var points = series[i].OrderBy(s => s.L0).ToArray();
            var line = plt.Add.Scatter(points.Select(s => s.L0!.Value).ToArray(), points.Select(s => y(s)!.Value).ToArray(), Palette.GetColor(i));
            line.LegendText = $"{series[i].Key.Family} · {series[i].Key.Width:N0}";
            line.MarkerSize = 7;
            foreach (var s in points)
            {
                var label = plt.Add.Text(s.PointLabel, s.L0!.Value, y(s)!.Value);
                label.LabelFontSize = 10;
                label.LabelFontColor = Palette.GetColor(i);
                bool right = s.L0!.Value > middle; // labels point inwards, so the data area's edge does not cut them
                label.LabelAlignment = right ? Alignment.LowerRight : Alignment.LowerLeft;
                label.OffsetX = right ? -5 : 5;
                label.OffsetY = -3;
            }
        }
        plt.Axes.Margins(horizontal: 0.1, vertical: 0.15); // room above the top points for their labels
        return Svg(plt);
    }

    /// <summary>Firing-density histograms, one step line per SAE: the fraction of its latents in each log10 density bin; dead latents in the legend.</summary>
    public string? FiringDensity(IReadOnlyList<SaeRecord> saes)
    {
        var with = saes.Select((s, i) => (Sae: s, Color: Palette.GetColor(i))).Where(p => p.Sae.FiringDensity != null).ToArray();
        if (with.Length == 0) return null;
        using var plt = NewPlot("log10 firing density (fraction of tokens a latent fires on)", "fraction of latents");
        foreach (var (sae, color) in with)
        {
            var h = sae.FiringDensity!;
            // a step per bin: each bin's fraction from its left edge, repeated at the last edge to close the final step
            var ys = h.Counts.Select(c => c / sae.Width).Append(h.Counts[^1] / sae.Width).ToArray();
            var line = plt.Add.Scatter(h.EdgesLog10, ys, color);
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = $"{sae.Name} (dead {h.Dead:N0})";
        }
        return Svg(plt);
    }

    /// <summary>A value by context position, one line per SAE; x is the position bucket (doubling widths, so log-spaced positions).</summary>
    public string? ByPosition(IReadOnlyList<SaeRecord> saes, Func<PositionBucket, double?> value, string yLabel)
    {
        var buckets = saes.SelectMany(s => s.Eval?.ByPosition ?? []).Where(b => Finite(value(b)))
            .Select(b => (b.From, b.To, b.Label)).Distinct().OrderBy(b => b.From).ThenBy(b => b.To).ToList();
        if (buckets.Count == 0) return null;
        using var plt = NewPlot("context position", yLabel);
        for (int i = 0; i < saes.Count; i++)
        {
            var points = (saes[i].Eval?.ByPosition ?? []).Where(b => Finite(value(b))).ToArray();
            if (points.Length == 0) continue;
            var line = plt.Add.Scatter(points.Select(b => (double)buckets.IndexOf((b.From, b.To, b.Label))).ToArray(), points.Select(b => value(b)!.Value).ToArray(), Palette.GetColor(i));
            line.LegendText = saes[i].Name;
            line.MarkerSize = 5;
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, buckets.Count).Select(i => (double)i).ToArray(), buckets.Select(b => b.Label).ToArray());
        return Svg(plt);
    }

    /// <summary>A training curve, one line per SAE that logged the value: <paramref name="value"/> against tokens trained.</summary>
    public string? Training(IReadOnlyList<SaeRecord> saes, Func<TrainPoint, double?> value, string yLabel)
    {
        using var plt = NewPlot("tokens trained", yLabel);
        bool any = false;
        for (int i = 0; i < saes.Count; i++)
        {
            var points = saes[i].TrainLog.Where(p => Finite(value(p))).ToArray();
            if (points.Length == 0) continue;
            var line = plt.Add.Scatter(points.Select(p => (double)p.Tokens).ToArray(), points.Select(p => value(p)!.Value).ToArray(), Palette.GetColor(i));
            line.LegendText = saes[i].Name;
            line.MarkerSize = points.Length == 1 ? 5 : 0;
            line.LineWidth = 1.5f;
            any = true;
        }
        if (!any) return null;
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = Tokens };
        return Svg(plt);
    }

    static Plot NewPlot(string xLabel, string yLabel)
    {
        var plt = new Plot();
        plt.Font.Set("DejaVu Sans");
        plt.XLabel(xLabel, size: 13);
        plt.YLabel(yLabel, size: 13);
        plt.ShowLegend(Edge.Bottom);
        return plt;
    }

    /// <summary>The plot as SVG to put inside HTML.</summary>
    string Svg(Plot plt)
    {
        string svg = plt.GetSvgXml(Width, Height);
        string prefix = $"p{++drawn}-";
        svg = XmlDeclaration().Replace(svg, "");
        svg = Ids().Replace(svg, m => $"{m.Groups[1].Value}{prefix}{m.Groups[2].Value}");
        svg = FontFamily().Replace(svg, "font-family=\"$1, sans-serif\""); // the font ScottPlot measured with, else the viewer's sans-serif
        return RootTag().Replace(svg, $"<svg viewBox=\"0 0 {Width} {Height}\" role=\"img\" ", 1).Trim();
    }

    static bool Finite(double? v) => v is double d && double.IsFinite(d);

    static string Tokens(double n) => Math.Abs(n) switch
    {
        >= 1e9 => (n / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "G",
        >= 1e6 => (n / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (n / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        _ => n.ToString("0", CultureInfo.InvariantCulture),
    };

    [GeneratedRegex(@"^\s*<\?xml[^>]*\?>")]
    private static partial Regex XmlDeclaration();

    /// <summary>An element id (<c>id="cl_4"</c>) or a reference to one (<c>url(#cl_4)</c>, <c>href="#cl_4"</c>).</summary>
    [GeneratedRegex(@"(\bid=""|url\(#|href=""#)([^"")]+)")]
    private static partial Regex Ids();

    [GeneratedRegex(@"font-family=""([^""]*)""")]
    private static partial Regex FontFamily();

    [GeneratedRegex(@"<svg\s")]
    private static partial Regex RootTag();
}
