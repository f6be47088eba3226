using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SaeCluster.Compute;

namespace SaeCluster.Client.Tests;

/// <summary><c>saectl report</c> run as a user runs it: on a sweep's evaluated output, on training-only SAEs, on bad input, and in a browser.</summary>
public sealed class ReportCliTests : IClassFixture<ReportCliTests.Evaluated>
{
    /// <summary>An evaluated sweep (<see cref="EvalOutputFixture"/>) and its report, built once.</summary>
    public sealed class Evaluated : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Report => Dir["report.html"];
        public string Html { get; }
        public Saectl.Result Run { get; }

        public Evaluated()
        {
            EvalOutputFixture.Write(Dir.Path);
            Run = Saectl.Run("report", Dir.Path);
            Assert.True(Run.ExitCode == 0, Run.Stderr);
            Html = File.ReadAllText(Report);
        }

        public void Dispose() => Dir.Dispose();
    }

    const int PlotsPerSite = 8; // two Pareto plots, firing density, FVU and delta loss by position, three training curves
    readonly Evaluated _e;

    public ReportCliTests(Evaluated e) => _e = e;

    /// <summary>Each site's section: its label and its HTML.</summary>
    static (string Site, string Html)[] SiteSections(string html) =>
        [.. Regex.Matches(html, @"<section class=""site"" id=""[^""]+"" data-site=""([^""]+)"">(.*?)</section>", RegexOptions.Singleline)
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value))];

    static int Count(string text, string what) => Regex.Matches(text, Regex.Escape(what)).Count;

    [Fact]
    public void WritesTheReportIntoTheFolderAndSaysWhere()
    {
        Assert.Equal($"wrote {_e.Report}", _e.Run.Stdout.Trim());
        Assert.Contains("report: 8 SAEs under", _e.Run.Stderr);
        Assert.Empty(Directory.GetFiles(_e.Dir.Path, ".report.html.tmp-*"));
        Assert.StartsWith("<!DOCTYPE html>", _e.Html);
        Assert.EndsWith("</html>\n", _e.Html);
    }

    [Fact]
    public void HeaderNamesTheFolderTheCountAndTheSpecialPositions()
    {
        var header = Regex.Match(_e.Html, "<header>(.*?)</header>", RegexOptions.Singleline).Groups[1].Value;
        Assert.Contains(_e.Dir.Path, header);
        Assert.Contains("<b>8</b> SAEs in 2 sites", header);
        Assert.Matches(@"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", header);
        Assert.Contains("BOS/EOS/pad positions are excluded from the evaluation", header);
        Assert.Contains($"{EvalOutputFixture.SpecialPositionsSkipped} special positions skipped", header);
    }

    [Fact]
    public void EverySiteHasEveryPlotInLayerOrder()
    {
        var sites = SiteSections(_e.Html);
        Assert.Equal(EvalOutputFixture.Sites, sites.Select(s => s.Site));
        foreach (var (site, html) in sites)
        {
            Assert.True(Count(html, "<svg") == PlotsPerSite, $"{site}: {Count(html, "<svg")} plots");
            Assert.DoesNotContain("class=\"absent\"", html);
            foreach (var caption in new[] { "L0 vs delta LM loss", "L0 vs FVU", "Firing density (eval.json)", "FVU by position", "Delta LM loss by position", "Training loss", "Training FVU", "Training L0" })
                Assert.Contains($"<figcaption>{caption}</figcaption>", html);
            // one Pareto series per (architecture, width), its points labelled with k
            Assert.Contains("topk · 128", html);
            Assert.Contains("topk · 256", html);
            Assert.Contains("jumprelu · 256", html);
            Assert.Contains("k=4", html);
        }
        // each SVG's ids are its own, so one plot's clip paths never clip another's
        var ids = Regex.Matches(_e.Html, @"\bid=""(p\d+-[^""]+)""").Select(m => m.Groups[1].Value).ToArray();
        Assert.NotEmpty(ids);
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.DoesNotContain("<?xml", _e.Html);
    }

    [Fact]
    public void TableHasARowPerSaeWithItsNumbers()
    {
        var table = Regex.Match(_e.Html, "<table class=\"sortable\">(.*?)</table>", RegexOptions.Singleline).Groups[1].Value;
        var headers = Regex.Matches(table, "<th[^>]*>([^<]*)</th>").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(["site", "name", "arch", "width", "k", "L0", "FVU", "explained var", "dead", "delta loss", "CE score", "KL", "tokens", "numbers from"], headers);
        var rows = Regex.Matches(table.Split("<tbody>")[1], "<tr>(.*?)</tr>", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(EvalOutputFixture.Saes.Length, rows.Length);
        foreach (var (site, name, arch, width, k) in EvalOutputFixture.Saes)
        {
            var row = Assert.Single(rows, r => r.StartsWith($"<td>{site}</td>") && r.Contains($">{name}</a></td>"));
            var cells = Regex.Matches(row, "<td[^>]*>(.*?)</td>").Select(m => m.Groups[1].Value).ToArray();
            Assert.Equal(arch, cells[2]);
            Assert.Equal(width.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), cells[3]);
            Assert.Equal(k?.ToString() ?? "—", cells[4]);
            Assert.Equal("204,800", cells[12]);
            Assert.Equal("eval", cells[13]);
            // eval.json's numbers win over metrics.json's (which the fixture writes 0.2 higher for L0)
            var eval = JsonNode.Parse(File.ReadAllText(_e.Dir[$"saes/{site}/{name}/eval.json"]))!;
            Assert.Contains($"data-v=\"{((double)eval["l0"]!).ToString("R", System.Globalization.CultureInfo.InvariantCulture)}\"", row);
            Assert.Contains($"data-v=\"{((double)eval["kl"]!).ToString("R", System.Globalization.CultureInfo.InvariantCulture)}\"", row);
        }
        Assert.DoesNotContain("gemmascope", _e.Html); // the copy in another format and the checkpoint are not SAEs of their own
        Assert.DoesNotContain(">stale<", _e.Html);
    }

    [Fact]
    public void LatentBrowserShowsEveryExampleEscaped()
    {
        var browser = Regex.Match(_e.Html, "<section id=\"latents\">(.*?)</section>", RegexOptions.Singleline).Groups[1].Value;
        Assert.Equal(EvalOutputFixture.Saes.Length, Count(browser, "<details class=\"sae\""));
        Assert.Equal(EvalOutputFixture.Saes.Length * 3, Count(browser, "<details class=\"latent\""));
        Assert.Equal(EvalOutputFixture.Saes.Length * 3 * 2, Count(browser, "<span class=\"ex\">"));
        // tokens escaped: markup, entities and quotes come out as text; newlines and tabs visible
        Assert.DoesNotContain("<script>alert", _e.Html);
        Assert.Contains("<span>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</span>", browser);
        Assert.Contains("<span> &amp;amp;</span>", browser);
        Assert.Contains(" &quot;q&quot;", browser);
        Assert.Contains("<span>↵↵</span>", browser);
        Assert.Contains("<span>⇥</span>", browser);
        // the peak token fully shaded, its neighbours a third
        Assert.Matches(@"<span style=""background:rgba\(255,120,0,1\)"" title=""3\.2"">", browser);
        Assert.Matches(@"<span style=""background:rgba\(255,120,0,0\.333\)""", browser);
    }

    [Fact]
    public void PageLoadsNothingFromOutside()
    {
        foreach (Match m in Regex.Matches(_e.Html, @"(https?:)?//[\w.-]+"))
            Assert.True(m.Value is "http://www.w3.org", $"reference to {m.Value}");
        Assert.DoesNotMatch(@"<(link|img|iframe|object|embed)\b", _e.Html);
        Assert.DoesNotMatch(@"<script\s+src", _e.Html);
        Assert.DoesNotContain("@import", _e.Html);
        Assert.DoesNotContain("url(http", _e.Html);
    }

    [Fact]
    public void TrainingOnlySaesFromElsewhereGetTheirSiteFromTheHookAndSayWhatIsMissing()
    {
        using var tmp = new TempDir();
        string sae = tmp["foreign/blocks.2.attn.hook_z"];
        Directory.CreateDirectory(sae);
        var cfg = EvalOutputFixture.Cfg("ignored", "topk", 128, 8, 2, "att", "blocks.2.attn.hook_z");
        cfg.Remove("saecluster");
        File.WriteAllText(Path.Combine(sae, "cfg.json"), cfg.ToJsonString());
        File.WriteAllText(Path.Combine(sae, "metrics.json"), """{"l0": 8.1, "fvu": 0.2, "explained_variance": 0.8, "dead_fraction": 0.25, "tokens": 4096}""");
        var sparsity = new SafetensorsWriter(); // training's log10 firing densities: 32 of 128 latents never fired
        sparsity.Add("sparsity", [.. Enumerable.Range(0, 128).Select(i => i < 32 ? -10f : -3f + i % 3)], [128], SafetensorsDtype.F32);
        sparsity.Write(Path.Combine(sae, "sparsity.safetensors"));

        string output = tmp["out/nested/r.html"];
        var r = Saectl.Run("report", tmp["foreign"], "--out", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal($"wrote {output}", r.Stdout.Trim());
        Assert.False(File.Exists(tmp["foreign/report.html"]));
        string html = File.ReadAllText(output);

        var (site, section) = Assert.Single(SiteSections(html));
        Assert.Equal("2.att", site);
        Assert.Contains("blocks.2.attn.hook_z", section); // the folder name is the SAE's name
        Assert.Equal(2, Count(section, "<svg")); // L0 vs FVU from metrics.json, densities from sparsity.safetensors
        Assert.Contains("<figcaption>Firing density (sparsity.safetensors)</figcaption>", section);
        Assert.Contains("(dead 32)", section);
        Assert.Contains("No delta LM loss for this site", section);
        Assert.Contains("No FVU by position for this site", section);
        Assert.Contains("No training curves for this site", section);
        Assert.Contains("No eval.json: L0, FVU", html);
        Assert.Contains("No latents.json", html);
        Assert.Contains("<td>training</td>", html);
    }

    [Fact]
    public void EmptyFolderIsOneErrorAndNoFile()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["run/logs"]);
        AssertFails(["report", tmp["run"]], tmp["run/report.html"], tmp["run"], "no SAE under it");
        AssertFails(["report", tmp["missing"]], tmp["missing/report.html"], tmp["missing"], "no such folder");
    }

    [Fact]
    public void MalformedInputNamesTheFileAndField()
    {
        using var tmp = new TempDir();
        EvalOutputFixture.Write(tmp.Path);
        string eval = tmp["saes/1.res/topk-w256-k8/eval.json"];
        var o = JsonNode.Parse(File.ReadAllText(eval))!.AsObject();
        o["by_position"]![2]!["fvu"] = "high";
        File.WriteAllText(eval, o.ToJsonString());
        AssertFails(["report", tmp.Path], tmp["report.html"], eval, "by_position[2].fvu", "expected a number", "\"high\"");

        File.WriteAllText(eval, "{\"l0\": 8,");
        AssertFails(["report", tmp.Path], tmp["report.html"], eval, "not valid JSON");

        File.Delete(eval);
        string log = tmp["saes/0.mlp/jumprelu-w256/train_log.jsonl"];
        File.WriteAllLines(log, ["{\"step\": 1, \"tokens\": 1024, \"loss\": 1}", "{\"step\": 2, \"tok", "{\"step\": 3, \"tokens\": 3072, \"loss\": 0.5}"]);
        AssertFails(["report", tmp.Path], tmp["report.html"], log, "line 2", "not valid JSON");
    }

    static void AssertFails(string[] args, string report, params string[] mustMention)
    {
        var r = Saectl.Run(args);
        Assert.NotEqual(0, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line);
        foreach (var m in mustMention) Assert.Contains(m, line);
        Assert.Equal("", r.Stdout);
        Assert.False(File.Exists(report), "a report was written");
    }

    [Fact]
    public void ChromiumRendersEveryPlotSortsTheTableAndLogsNoError()
    {
        using var browser = new HeadlessChromium(1280, 4000);
        string url = new Uri(_e.Report).AbsoluteUri;
        browser.Navigate(url);

        var boxes = browser.Evaluate("[...document.querySelectorAll('svg')].map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; })")!.AsArray();
        Assert.Equal(EvalOutputFixture.Sites.Length * PlotsPerSite, boxes.Count);
        foreach (var box in boxes) Assert.True((double)box![0]! > 100 && (double)box[1]! > 50, $"an SVG drawn {box.ToJsonString()}");

        // clicking L0 sorts ascending, again descending
        const string clickL0 = "(() => { [...document.querySelectorAll('th')].find(t => t.textContent.startsWith('L0')).click(); return [...document.querySelector('table.sortable').tBodies[0].rows].map(r => +r.cells[5].dataset.v); })()";
        var ascending = browser.Evaluate(clickL0)!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(ascending.Order(), ascending);
        Assert.True(ascending.Distinct().Count() > 1, "the L0 values are all one");
        var descending = browser.Evaluate(clickL0)!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(ascending.Reverse(), descending);

        // an opened latent shows shaded tokens
        var shaded = browser.Evaluate("(() => { const d = document.querySelector('details.sae'); d.open = true; return [...d.querySelectorAll('summary .ex span[style]')].filter(s => s.getBoundingClientRect().width > 0 && getComputedStyle(s).backgroundColor !== 'rgba(0, 0, 0, 0)').length; })()");
        Assert.True((int)shaded! > 0, "no shaded token visible in an opened latent");

        var png = PngPixels.Decode(browser.Screenshot());
        Assert.Equal(1280, png.Width);
        Assert.True(png.FractionNotBackground() > 0.05, $"the screenshot is nearly blank ({png.FractionNotBackground():P1} not background)");

        Assert.True(browser.Errors.IsEmpty, string.Join("\n", browser.Errors));
        Assert.All(browser.Requests, u => Assert.True(u == url || u.StartsWith("data:"), $"the page requested {u}"));
    }
}
