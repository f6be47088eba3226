using System.Globalization;
using System.Net;
using System.Text;

namespace SaeCluster.Client.Report;

/// <summary>
/// The report page: one self-contained HTML file (inline CSS, inline SVG plots, a few lines of inline script to
/// sort the table; nothing loaded from anywhere). A header (folder, date, SAE count, how special positions were
/// treated), a sortable table of every SAE, a section of plots per site, and a latent browser.
/// </summary>
internal static class ReportHtml
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Renders the page; <paramref name="progress"/> hears a line per site as its plots are drawn.</summary>
    public static string Render(ReportData data, DateTime generatedUtc, Action<string>? progress = null)
    {
        var ids = new Dictionary<SaeRecord, string>(ReferenceEqualityComparer.Instance);
        foreach (var s in data.Saes) ids[s] = $"sae-{ids.Count}";
        var sites = data.Sites.ToArray();
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        html.Append($"<title>SAE report: {E(Path.GetFileName(data.Folder))}</title>\n<style>{Css}</style>\n</head>\n<body>\n");
        Header(html, data, sites, generatedUtc);
        html.Append("<main>\n");
        Table(html, data, ids);
        var plots = new ReportPlots();
        foreach (var site in sites)
        {
            progress?.Invoke($"plots for {site.Key.Label} ({site.Count()} SAEs)");
            Site(html, site.Key, site.ToArray(), plots);
        }
        Latents(html, data, ids);
        html.Append("</main>\n<script>").Append(Script).Append("</script>\n</body>\n</html>\n");
        return html.ToString();
    }

    static void Header(StringBuilder html, ReportData data, IGrouping<SiteLabel, SaeRecord>[] sites, DateTime generatedUtc)
    {
        var models = data.Saes.Select(s => s.Model).OfType<string>().Distinct().ToArray();
        html.Append("<header>\n<h1>SAE report</h1>\n<p class=\"meta\">")
            .Append($"<code>{E(data.Folder)}</code> · generated {generatedUtc.ToString("yyyy-MM-dd HH:mm", Inv)} UTC · ")
            .Append($"<b>{data.Saes.Count}</b> SAE{(data.Saes.Count == 1 ? "" : "s")} in {sites.Length} site{(sites.Length == 1 ? "" : "s")}");
        if (models.Length > 0) html.Append($" · model {E(string.Join(", ", models))}");
        html.Append("</p>\n");
        foreach (var note in Notes(data)) html.Append($"<p class=\"note\">{note}</p>\n");
        html.Append("<nav><a href=\"#table\">all SAEs</a>");
        foreach (var site in sites) html.Append($" · <a href=\"#{SiteId(site.Key)}\">{E(site.Key.Label)}</a>");
        html.Append(" · <a href=\"#latents\">latents</a></nav>\n</header>\n");
    }

    /// <summary>Where the numbers come from, and whether BOS/EOS/pad positions were part of the evaluation.</summary>
    static IEnumerable<string> Notes(ReportData data)
    {
        var evals = data.Saes.Where(s => s.Eval != null).ToArray();
        if (evals.Length < data.Saes.Count)
            yield return evals.Length == 0
                ? "No eval.json: L0, FVU, explained variance and dead latents are training-time numbers (metrics.json); there are no LM-loss numbers."
                : $"{data.Saes.Count - evals.Length} of {data.Saes.Count} SAEs have no eval.json: their numbers are training-time (metrics.json; “training” in the table).";
        var excluded = evals.Where(s => s.Eval!.IncludeSpecial == false).ToArray();
        var included = evals.Where(s => s.Eval!.IncludeSpecial == true).ToArray();
        if (excluded.Length > 0)
        {
            var skipped = excluded.Select(s => s.Eval!.SpecialPositionsSkipped).OfType<long>().Distinct().Order().ToArray();
            string scope = excluded.Length == evals.Length ? "the evaluation" : $"the evaluation of {excluded.Length} of {evals.Length} SAEs";
            yield return $"BOS/EOS/pad positions are excluded from {scope} (eval.json <code>include_special: false</code>"
                + (skipped.Length > 0 ? $"; {string.Join(" / ", skipped.Select(n => n.ToString("N0", Inv)))} special positions skipped per evaluation" : "") + ").";
        }
        if (included.Length > 0)
            yield return $"BOS/EOS/pad positions are included in the evaluation of {E(string.Join(", ", included.Select(s => s.Name)))} (eval.json <code>include_special: true</code>).";
    }

    static void Table(StringBuilder html, ReportData data, Dictionary<SaeRecord, string> ids)
    {
        html.Append("<section id=\"table\">\n<h2>All SAEs</h2>\n<p class=\"hint\">Click a column header to sort.</p>\n<div class=\"scroll\"><table class=\"sortable\">\n<thead><tr>");
        foreach (var (name, numeric) in Columns) html.Append($"<th{(numeric ? " data-type=\"num\"" : "")}>{name}</th>");
        html.Append("</tr></thead>\n<tbody>\n");
        foreach (var s in data.Saes)
        {
            html.Append("<tr>");
            Text(html, s.Site.Label);
            string name = s.Latents != null ? $"<a href=\"#latents-{ids[s]}\">{E(s.Name)}</a>" : E(s.Name);
            html.Append($"<td title=\"{E(s.RelativePath)}\">{name}</td>");
            Text(html, s.Family);
            Num(html, s.Width, s.Width.ToString("N0", Inv));
            Num(html, s.K, s.K?.ToString(Inv));
            Num(html, s.L0, G(s.L0));
            Num(html, s.Fvu, G(s.Fvu));
            Num(html, s.ExplainedVariance, G(s.ExplainedVariance));
            Num(html, s.DeadFraction, s.DeadFraction?.ToString("P1", Inv));
            Num(html, s.DeltaLoss, G(s.DeltaLoss));
            Num(html, s.CeLossScore, G(s.CeLossScore));
            Num(html, s.Kl, G(s.Kl));
            Num(html, s.Tokens, s.Tokens?.ToString("N0", Inv));
            Text(html, s.FromEval ? "eval" : "training");
            html.Append("</tr>\n");
        }
        html.Append("</tbody>\n</table></div>\n</section>\n");
    }

    static readonly (string Name, bool Numeric)[] Columns =
    [
        ("site", false), ("name", false), ("arch", false), ("width", true), ("k", true), ("L0", true), ("FVU", true),
        ("explained var", true), ("dead", true), ("delta loss", true), ("CE score", true), ("KL", true), ("tokens", true), ("numbers from", false),
    ];

    static void Text(StringBuilder html, string text) => html.Append($"<td>{E(text)}</td>");

    /// <summary>A numeric cell: shown formatted, sorted by the exact value in <c>data-v</c> (empty for a missing value, which sorts last).</summary>
    static void Num(StringBuilder html, double? value, string? shown) =>
        html.Append($"<td class=\"n\" data-v=\"{(value is double v && double.IsFinite(v) ? v.ToString("R", Inv) : "")}\">{(shown == null ? "—" : E(shown))}</td>");

    static void Site(StringBuilder html, SiteLabel site, SaeRecord[] saes, ReportPlots plots)
    {
        html.Append($"<section class=\"site\" id=\"{SiteId(site)}\" data-site=\"{E(site.Label)}\">\n<h2>{E(site.Label)}</h2>\n");
        html.Append($"<p class=\"hint\">{saes.Length} SAE{(saes.Length == 1 ? "" : "s")}: {E(string.Join(", ", saes.Select(s => s.Name)))}</p>\n<div class=\"plots\">\n");
        Figure(html, "L0 vs delta LM loss", plots.Pareto(saes, s => s.DeltaLoss, "delta LM loss (nats)"),
            "No delta LM loss for this site: <code>saectl eval</code> writes it to eval.json.");
        Figure(html, "L0 vs FVU", plots.Pareto(saes, s => s.Fvu, "FVU (fraction of variance unexplained)"),
            "No L0 and FVU for this site in eval.json or metrics.json.");
        string densitySource = string.Join(", ", saes.Select(s => s.FiringDensity?.Source).OfType<string>().Distinct());
        Figure(html, $"Firing density{(densitySource.Length > 0 ? $" ({densitySource})" : "")}", plots.FiringDensity(saes),
            "No firing densities for this site: no eval.json histogram and no sparsity.safetensors.");
        Figure(html, "FVU by position", plots.ByPosition(saes, b => b.Fvu, "FVU"),
            "No FVU by position for this site: eval.json's <code>by_position</code> is missing.");
        Figure(html, "Delta LM loss by position", plots.ByPosition(saes, b => b.DeltaLoss, "delta LM loss (nats)"),
            "No delta LM loss by position for this site: eval.json's <code>by_position</code> is missing.");
        Figure(html, "Training loss", plots.Training(saes, p => p.Loss, "loss"), "No training curves for this site: no train_log.jsonl.");
        Figure(html, "Training FVU", plots.Training(saes, p => p.Fvu, "FVU"), "No FVU in this site's train_log.jsonl.");
        Figure(html, "Training L0", plots.Training(saes, p => p.L0, "L0"), "No L0 in this site's train_log.jsonl.");
        html.Append("</div>\n</section>\n");
    }

    static void Figure(StringBuilder html, string title, string? svg, string absent) =>
        html.Append($"<figure><figcaption>{E(title)}</figcaption>\n{svg ?? $"<p class=\"absent\">{absent}</p>"}\n</figure>\n");

    static void Latents(StringBuilder html, ReportData data, Dictionary<SaeRecord, string> ids)
    {
        var with = data.Saes.Where(s => s.Latents != null).ToArray();
        html.Append("<section id=\"latents\">\n<h2>Latent browser</h2>\n");
        if (with.Length == 0)
        {
            html.Append("<p class=\"absent\">No latents.json: <code>saectl eval</code> writes each SAE's latents with their top-activating contexts.</p>\n</section>\n");
            return;
        }
        html.Append("<p class=\"hint\">Tokens shaded by the latent's activation (relative to its maximum); hover a token for its value. ↵ is a newline, ⇥ a tab.</p>\n");
        foreach (var s in with)
        {
            var set = s.Latents!;
            html.Append($"<details class=\"sae\" id=\"latents-{ids[s]}\"><summary><b>{E(s.Site.Label)}</b> · {E(s.Name)} — {set.Latents.Count} latent{(set.Latents.Count == 1 ? "" : "s")}</summary>\n");
            foreach (var latent in set.Latents)
            {
                double max = latent.MaxActivation ?? latent.Examples.Select(x => x.Max).DefaultIfEmpty(0).Max();
                html.Append($"<details class=\"latent\"><summary>latent <b>{latent.Index}</b>");
                if (latent.Kind != null) html.Append($" · {E(latent.Kind)}");
                if (latent.Density is double d) html.Append($" · density {d.ToString("0.##e0", Inv)}");
                html.Append($" · max {max.ToString("G4", Inv)} · {latent.Examples.Count} example{(latent.Examples.Count == 1 ? "" : "s")}");
                if (latent.Examples.Count > 0) Example(html.Append(' '), latent.Examples[0], max);
                html.Append("</summary>\n");
                foreach (var example in latent.Examples.Skip(1)) Example(html, example, max);
                html.Append("</details>\n");
            }
            html.Append("</details>\n");
        }
        html.Append("</section>\n");
    }

    /// <summary>One context: each token a span whose background alpha is its activation over the latent's maximum.</summary>
    static void Example(StringBuilder html, LatentExample example, double max)
    {
        html.Append("<span class=\"ex\">");
        for (int i = 0; i < example.Tokens.Length; i++)
        {
            double a = example.Activations[i];
            string text = E(Visible(example.Tokens[i]));
            if (a > 0 && max > 0) html.Append($"<span style=\"background:rgba(255,120,0,{Math.Min(1, a / max).ToString("0.###", Inv)})\" title=\"{a.ToString("G4", Inv)}\">{text}</span>");
            else html.Append($"<span>{text}</span>");
        }
        html.Append("</span>\n");
    }

    /// <summary>A token with its control characters made visible, so one context stays on one line.</summary>
    static string Visible(string token)
    {
        if (token.Length == 0) return "∅";
        var sb = new StringBuilder(token.Length);
        foreach (char c in token)
            sb.Append(c switch
            {
                '\n' => "↵",
                '\t' => "⇥",
                '\r' => "␍",
                < ' ' => ((char)(0x2400 + c)).ToString(),
                '\x7f' => "␡",
                _ => c.ToString(),
            });
        return sb.ToString();
    }

    static string SiteId(SiteLabel site) => "site-" + site.Label.Replace('.', '-');

    static string? G(double? v) => v?.ToString("G4", Inv);

    static string E(string text) => WebUtility.HtmlEncode(text);

    const string Css = """

        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
        header, main { max-width: 1400px; margin: 0 auto; padding: 0 20px; }
        header { padding-top: 16px; }
        h1 { margin: 0 0 4px; font-size: 24px; }
        h2 { margin: 28px 0 6px; font-size: 19px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
        .meta, .hint { color: #555; margin: 4px 0; }
        .note { background: #fff8e1; border-left: 3px solid #f0b400; padding: 4px 10px; margin: 6px 0; }
        .absent { color: #777; font-style: italic; padding: 24px; border: 1px dashed #ccc; margin: 0; }
        nav { margin: 10px 0; }
        a { color: #0b5cad; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; background: #fff; }
        th, td { padding: 3px 9px; border-bottom: 1px solid #eee; text-align: left; white-space: nowrap; }
        th { cursor: pointer; user-select: none; background: #f0f0f0; position: sticky; top: 0; }
        th[data-dir="asc"]::after { content: " ▲"; }
        th[data-dir="desc"]::after { content: " ▼"; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        .plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 14px; }
        figure { margin: 0; background: #fff; border: 1px solid #e4e4e4; padding: 8px; }
        figcaption { font-weight: 600; margin-bottom: 4px; }
        figure svg { width: 100%; height: auto; display: block; }
        details.sae { background: #fff; border: 1px solid #e4e4e4; margin: 6px 0; padding: 4px 10px; }
        details.sae > summary { cursor: pointer; padding: 2px 0; }
        details.latent { margin: 4px 0 4px 14px; }
        details.latent > summary { cursor: pointer; }
        .ex { display: block; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 2px 0 2px 18px; }
        summary .ex { display: inline; margin: 0 0 0 8px; }
        .ex span { border-radius: 2px; }

        """;

    /// <summary>Sorts the table by the clicked column (numbers by data-v, missing values last), toggling the direction.</summary>
    const string Script = """

        for (const th of document.querySelectorAll("table.sortable th")) {
          th.addEventListener("click", () => {
            const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
            const dir = th.dataset.dir === "asc" ? -1 : 1;
            for (const other of table.tHead.rows[0].cells) delete other.dataset.dir;
            th.dataset.dir = dir === 1 ? "asc" : "desc";
            const numeric = th.dataset.type === "num";
            const key = row => numeric ? row.cells[col].dataset.v : row.cells[col].textContent;
            const rows = [...body.rows].sort((a, b) => {
              const x = key(a), y = key(b);
              if (x === "" || y === "") return (x === "") - (y === "");
              return dir * (numeric ? x - y : x.localeCompare(y, undefined, { numeric: true }));
            });
            body.append(...rows);
          });
        }

        """;
}
