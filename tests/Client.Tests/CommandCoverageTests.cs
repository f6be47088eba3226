using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SaeCluster.Compute;
using SaeCluster.Models;

namespace SaeCluster.Client.Tests;

/// <summary>
/// Every saectl command not covered by its own test file, run as a process: what it prints checked against
/// its definition, and each bad input one error line with the documented exit code
/// (train, activations, sae, eval, report and bench step have their own files; submit, status, watch and
/// cancel against a live cluster are in Silo.Tests).
/// </summary>
public class CommandCoverageTests
{
    static string Root([System.Runtime.CompilerServices.CallerFilePath] string p = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(p)!, "..", ".."));

    static readonly string TinyGemma2 = Path.Combine(Root(), "models", "tiny-gemma2-code");

    /// <summary>A failed run: exit <paramref name="exitCode"/>, stderr exactly "error: <paramref name="message"/>" on one line.</summary>
    static void AssertError(Saectl.Result r, int exitCode, string message)
    {
        Assert.True(r.ExitCode == exitCode, $"exit {r.ExitCode}, expected {exitCode}\nstdout:\n{r.Stdout}\nstderr:\n{r.Stderr}");
        Assert.Equal("error: " + message, r.Stderr.TrimEnd('\n'));
    }

    /// <summary>The subcommand names of a System.CommandLine help text, in order (its "Commands:" section).</summary>
    static string[] HelpCommands(string help)
    {
        const string Header = "\nCommands:\n";
        int start = help.IndexOf(Header, StringComparison.Ordinal);
        Assert.True(start >= 0, $"no Commands: section in\n{help}");
        return help[(start + Header.Length)..].Split('\n').TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal))
            .Select(l => l.Trim().Split(' ')[0]).ToArray();
    }

    static double Num(string s) => double.Parse(s.Replace(",", ""), CultureInfo.InvariantCulture);

    // ---- help ----------------------------------------------------------------------------------------

    [Fact]
    public void HelpListsEveryCommand()
    {
        var root = Saectl.Run("--help");
        Assert.True(root.ExitCode == 0, root.Stderr);
        Assert.Equal(["run", "submit", "status", "watch", "cancel", "train", "bench", "quickstart", "model", "activations", "tokenize", "sae", "eval", "report"],
            HelpCommands(root.Stdout));
        Assert.Equal(["init-random", "info"], HelpCommands(Saectl.Run("model", "--help").Stdout));
        Assert.Equal(["synthetic", "step", "forward", "cluster", "metrics"], HelpCommands(Saectl.Run("bench", "--help").Stdout));
    }

    // ---- model ---------------------------------------------------------------------------------------

    [Theory]
    [InlineData("gemma", GemmaVersion.Gemma1, "GemmaForCausalLM")]
    [InlineData("gemma2", GemmaVersion.Gemma2, "Gemma2ForCausalLM")]
    [InlineData("gemma3_text", GemmaVersion.Gemma3, "Gemma3ForCausalLM")]
    public void ModelInitRandomWritesALoadableCheckpointOfEachType(string type, GemmaVersion version, string architecture)
    {
        using var tmp = new TempDir();
        var r = Saectl.Run("model", "init-random", "--type", type, "--out", tmp["m"], "--hidden", "32", "--layers", "2", "--heads", "2",
            "--kv-heads", "1", "--head-dim", "16", "--intermediate", "64", "--vocab", "400");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"],
            Directory.GetFiles(tmp["m"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var json = JsonNode.Parse(File.ReadAllText(tmp["m/config.json"]))!;
        Assert.Equal((type, architecture), ((string)json["model_type"]!, (string)json["architectures"]![0]!));
        var c = GemmaModel.Load(tmp["m"]).Config;
        Assert.Equal((version, 32, 2, 2, 1, 16, 64, 400), (c.Version, c.Hidden, c.Layers, c.Heads, c.KvHeads, c.HeadDim, c.Intermediate, c.VocabSize));

        // the same, now non-empty, folder again: refused without --overwrite, replaced with it
        AssertError(Saectl.Run("model", "init-random", "--type", type, "--out", tmp["m"]), 2, $"--out: {tmp["m"]} is not empty (pass --overwrite)");
        var again = Saectl.Run("model", "init-random", "--type", type, "--out", tmp["m"], "--overwrite");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(64, GemmaModel.Load(tmp["m"]).Config.Hidden); // the default --hidden
    }

    [Fact]
    public void ModelInitRandomRejectsAnUnknownType()
    {
        using var tmp = new TempDir();
        AssertError(Saectl.Run("model", "init-random", "--type", "llama", "--out", tmp["m"]), 2, "--type: unknown model type 'llama' (gemma, gemma2, gemma3_text)");
        Assert.False(Directory.Exists(tmp["m"]));
    }

    /// <summary>model info on the repository's tiny Gemma 2: the numbers of its config.json.</summary>
    [Fact]
    public void ModelInfoSummarisesTheTinyGemma2()
    {
        var r = Saectl.Run("model", "info", TinyGemma2);
        Assert.True(r.ExitCode == 0, r.Stderr);
        // config.json: hidden 128, 4 layers, vocab 357, 4 / 2 heads of 48, intermediate 512, sliding window 64 on the
        // even layers, softcaps 50 / 30; the attention site is Hq·D = 192 wide
        foreach (var (field, value) in new[]
        {
            ("model type", "gemma2 (Gemma2)"), ("d / layers / vocab", "128 / 4 / 357"), ("heads (q / kv) × head dim", "4 / 2 × 48 (Hq·D = 192)"),
            ("MLP width", "512"), ("sliding layers", "0,2 (window 64)"), ("softcaps (attn / final)", "50 / 30"),
            ("site widths", "res 128, mlp 128, att 192, attn_out 128"),
        })
            Assert.Matches(new Regex($@"│ {Regex.Escape(field)} +│ {Regex.Escape(value)} +│"), r.Stdout);
    }

    [Fact]
    public void ModelInfoOnAMissingFolderNamesTheFile()
    {
        using var tmp = new TempDir();
        AssertError(Saectl.Run("model", "info", tmp["none"]), 1, $"{tmp["none"]}/config.json: no such file");
    }

    // ---- tokenize ------------------------------------------------------------------------------------

    [Fact]
    public void TokenizePrintsTheTokenizersOwnIds()
    {
        string path = Path.Combine(TinyGemma2, "tokenizer.json");
        var tokenizer = GemmaTokenizer.Load(path);
        string[] texts = ["hello world", "def f(x):\n    return x  # ünïcode ✓", ""];
        string stdin = string.Concat(texts.Select(t => System.Text.Json.JsonSerializer.Serialize(t) + "\n"));

        var r = Saectl.RunWithInput(stdin, "tokenize", "--tokenizer", path);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(texts.Select(t => "[" + string.Join(',', tokenizer.Encode(t)) + "]"), r.Stdout.TrimEnd('\n').Split('\n'));
        Assert.Equal("[2,334,331,338,338,341,260,349,341,344,338,330]", r.Stdout.Split('\n')[0]); // BOS, then the characters

        var plain = Saectl.RunWithInput(stdin, "tokenize", "--tokenizer", path, "--no-special");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Equal(texts.Select(t => "[" + string.Join(',', tokenizer.Encode(t, addSpecialTokens: false)) + "]"), plain.Stdout.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void TokenizeRejectsAMissingTokenizerAndNonJsonLines()
    {
        using var tmp = new TempDir();
        AssertError(Saectl.Run("tokenize", "--tokenizer", tmp["none.json"]), 1, $"tokenizer file '{tmp["none.json"]}' not found");
        AssertError(Saectl.RunWithInput("\"ok\"\nnot json\n", "tokenize", "--tokenizer", Path.Combine(TinyGemma2, "tokenizer.json")), 2,
            "stdin line 2: is not a JSON string");
    }

    // ---- quickstart ----------------------------------------------------------------------------------

    /// <summary>
    /// quickstart with 20,480 tokens per SAE (5 steps of 4096; the default 4M takes minutes): the four architectures
    /// trained from the train.yaml it writes; too few steps to recover the features, so it exits 1 as documented.
    /// </summary>
    [Fact]
    public void QuickstartTrainsEveryArchitectureAndReportsRecovery()
    {
        using var tmp = new TempDir();
        var r = Saectl.Run("quickstart", "--dir", tmp["qs"], "--tokens", "20480", "--quiet");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}\n{r.Stdout}\n{r.Stderr}");
        string[] names = ["relu-w128-l1_0.2", "topk-w128-k4", "batchtopk-w128-k4", "jumprelu-w128-l0_0.015"];
        Assert.Equal(names.Order(StringComparer.Ordinal), Directory.GetDirectories(tmp["qs/saes"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string name in names)
        {
            var metrics = JsonNode.Parse(File.ReadAllText(tmp[$"qs/saes/{name}/metrics.json"]))!;
            Assert.Equal((20480L, 5L), ((long)metrics["tokens"]!, (long)metrics["steps"]!));
            Assert.Matches(new Regex($@"│ +{Regex.Escape(name)} │ 0\.\d{{3}} │ ≥ 0\.\d\d │ below target │"), r.Stdout);
        }
        Assert.Contains("tokens: 20480\n", File.ReadAllText(tmp["qs/train.yaml"]));
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void QuickstartRejectsTokensBelowOneBatch()
    {
        using var tmp = new TempDir();
        AssertError(Saectl.Run("quickstart", "--dir", tmp["qs"], "--tokens", "0", "--quiet"), 2,
            $"{tmp["qs/train.yaml"]}: tokens: must be at least one batch (4096) (got 0)");
        Assert.False(Directory.Exists(tmp["qs/saes"]));
    }

    // ---- bench ---------------------------------------------------------------------------------------

    /// <summary>
    /// bench synthetic at its smallest: widths and k from --features and --l0, TopK's default lr by its rule
    /// (2e-4·√(16384/width)·√(2304/d_in)), ReLU's the bench's 0.02, pass = mmcs ≥ mmcs_target, L0 ≤ k.
    /// </summary>
    [Fact]
    public void BenchSyntheticReportsBySaeAgainstItsTargets()
    {
        var r = Saectl.Run("bench", "synthetic", "--d-in", "16", "--features", "32", "--l0", "2", "--tokens", "16384", "--batch", "1024",
            "--arch", "topk,relu", "--quiet", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonNode.Parse(r.Stdout)!;
        Assert.Equal((16, 32, 2, 16384L, 1024), ((int)j["d_in"]!, (int)j["features"]!, (int)j["true_l0"]!, (long)j["tokens"]!, (int)j["batch"]!));
        Assert.True((double)j["seconds"]! > 0);
        var rows = j["saes"]!.AsArray().Select(n => n!.AsObject()).ToArray();
        Assert.Equal(["topk", "relu"], rows.Select(x => (string)x["arch"]!));
        foreach (var row in rows)
        {
            Assert.Equal(("saecluster", 32), ((string)row["side"]!, (int)row["width"]!));
            double mmcs = (double)row["mmcs"]!, target = (double)row["mmcs_target"]!;
            Assert.Equal((string)row["arch"]! == "topk" ? 0.95 : 0.85, target);
            Assert.Equal(mmcs >= target, (bool)row["pass"]!);
            Assert.InRange(mmcs, 0.0, 1.0);
            Assert.InRange((double)row["fvu"]!, 0.0, 1.0);
            Assert.InRange((double)row["dead_fraction"]!, 0.0, 1.0);
        }
        var topk = rows[0];
        Assert.Equal(2, (int)topk["k"]!);
        Assert.InRange((double)topk["l0"]!, 0, 2);
        double lr = 2e-4 * Math.Sqrt(16384.0 / 32) * Math.Sqrt(2304.0 / 16);
        Assert.Equal("default", (string)topk["lr_setting"]!);
        Assert.Equal(lr, (double)topk["lr"]!, lr * 1e-6);
        var relu = rows[1]; // relu's default is this bench's 0.02 (its recipe's rate is for ~100k-step runs)
        Assert.Equal("bench", (string)relu["lr_setting"]!);
        Assert.Equal(0.02, (double)relu["lr"]!, 1e-8);
    }

    /// <summary>
    /// bench forward on a tiny random Gemma 2 with the PyTorch peer (Debian python3-torch): each speedup is
    /// ours / the peer's tokens/s as printed, the peer's tokens/s is rows·context / its seconds (rounded to 0.1 ms).
    /// </summary>
    [Fact]
    public void BenchForwardRatiosAreOursOverThePeers()
    {
        var r = Saectl.Run("bench", "forward", "--hidden", "64", "--layers", "2", "--heads", "2", "--kv-heads", "1", "--head-dim", "16",
            "--intermediate", "128", "--window", "8", "--context", "32", "--rows", "2", "--repeats", "1", "--peer", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonNode.Parse(r.Stdout)!;
        Assert.Equal((2, 32, 2, 64), ((int)j["rows"]!, (int)j["context"]!, (int)j["layers"]!, (int)j["hidden"]!));
        var ours = j["ours"]!.AsObject();
        Assert.Equal(Gemm.HasFastBf16 ? ["fp32", "bf16"] : ["fp32"], ours.Select(kv => kv.Key));
        var peer = j["peer"]!["variants"]!.AsObject();
        foreach (var (variant, v) in peer)
        {
            double seconds = (double)v!["seconds"]!, tps = (double)v["tokens_per_s"]!;
            Assert.InRange(tps, 64 / (seconds + 5e-5) - 0.05, 64 / (seconds - 5e-5) + 0.05);
        }
        var speedup = j["speedup"]!.AsObject();
        Assert.Equal(ours.Select(kv => kv.Key), speedup.Select(kv => kv.Key));
        foreach (var (variant, v) in speedup)
        {
            double expected = (double)ours[variant]! / (double)peer[variant]!["tokens_per_s"]!;
            Assert.Equal(expected, (double)v!, expected * 1e-12);
        }
    }

    /// <summary>
    /// bench cluster on a temporary folder at its smallest: writes/s = writes / the seconds printed beside it,
    /// overhead = 1 − work per slot / wall (each within the rounding of the printed numbers).
    /// </summary>
    [Fact]
    public void BenchClusterNumbersFollowFromTheirDetails()
    {
        var r = Saectl.Run("bench", "cluster", "--writes", "40", "--writers", "2", "--small-actors", "4", "--work-ms", "50", "--slots", "2");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var writes = Regex.Match(r.Stdout, @"state writes/s │ +([\d,]+) │ +40 ETag-checked writes by 2 writers in (\d+\.\d\d) s │");
        Assert.True(writes.Success, r.Stdout);
        double perSecond = Num(writes.Groups[1].Value), seconds = Num(writes.Groups[2].Value);
        Assert.InRange(perSecond, 40 / (seconds + 0.005) - 0.5, 40 / Math.Max(1e-3, seconds - 0.005) + 0.5);

        var overhead = Regex.Match(r.Stdout, @"coordination overhead │ +(-?\d+\.\d\d) % │ +4 pieces × 50 ms on 2 slots: (\d+\.\d{3}) s wall, (\d+\.\d{3}) s of work per slot │");
        Assert.True(overhead.Success, r.Stdout);
        double percent = Num(overhead.Groups[1].Value), wall = Num(overhead.Groups[2].Value), work = Num(overhead.Groups[3].Value);
        Assert.True(work > 0 && work <= wall, $"{work} s of work per slot in {wall} s"); // the pieces' work never exceeds the wall time
        double low = 1 - (work + 0.0005) / (wall - 0.0005), high = 1 - (work - 0.0005) / (wall + 0.0005);
        Assert.InRange(percent / 100, low - 0.00005, high + 0.00005);
    }

    /// <summary>
    /// bench metrics with one round: each overhead = (µs on / µs off − 1)·100, the scrape's share =
    /// ms / 15 s (each within the rounding of the printed numbers), on the GEMM backend this process selects.
    /// </summary>
    [Fact]
    public void BenchMetricsOverheadsFollowFromTheTimes()
    {
        var r = Saectl.Run("bench", "metrics", "--rounds", "1", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var j = JsonNode.Parse(r.Stdout)!;
        Assert.Equal(Gemm.Backend, (string)j["gemm_backend"]!);
        var gemm = j["gemm"]!.AsArray();
        Assert.Equal(4, gemm.Count);
        foreach (var g in gemm)
        {
            double off = (double)g!["us_off"]!, on = (double)g["us_on"]!, percent = (double)g["overhead_percent"]!;
            Assert.True(off > 0 && on > 0, g.ToJsonString());
            double low = ((on - 0.005) / (off + 0.005) - 1) * 100, high = ((on + 0.005) / (off - 0.005) - 1) * 100;
            Assert.InRange(percent, low - 0.005, high + 0.005);
        }
        Assert.True((double)j["counter_add_ns"]! > 0 && (double)j["histogram_record_ns"]! > 0, j.ToJsonString());
        var scrape = j["scrape"]!;
        Assert.True((int)scrape["series"]! > 0 && (int)scrape["bytes"]! > 0, scrape.ToJsonString());
        double ms = (double)scrape["ms"]!;
        Assert.InRange((double)scrape["share_of_15s_interval_percent"]!, (ms - 0.005) / 150 - 0.00005, (ms + 0.005) / 150 + 0.00005);
    }

    // ---- run: bad sweeps -----------------------------------------------------------------------------

    static string Sweep(string name, string model, string extraSiteLine = "") => $"""
        name: {name}
        model: {model}
        corpus:
          paths: ["/usr/lib/python3*/json/*.py"]
        context: 64
        tokens: 8192
        sites:
          layers: [0]
          kinds: [res]{extraSiteLine}
        saes:
          - arch: topk
            width: 64
            k: 4
        """;

    public static IEnumerable<object[]> BadSweeps() =>
    [
        ["malformed.yaml", "name: x\nmodel: [\n", "malformed.yaml:3: malformed YAML: While parsing a node, did not find expected node content."],
        ["unknown.yaml", Sweep("unknown", TinyGemma2, "\n  colour: blue"), "unknown.yaml: sites.colour (line 10): unknown field (allowed: layers, kinds)"],
        ["nomodel.yaml", Sweep("nomodel", "no-such-model"), "nomodel.yaml: model (line 2): {dir}/no-such-model: no such folder"],
    ];

    /// <summary>saectl run refuses a bad sweep before starting anything: exit 2, one line naming file, field and line.</summary>
    [Theory]
    [MemberData(nameof(BadSweeps))]
    public void RunRejectsABadSweepInOneLine(string file, string yaml, string message)
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp[file], yaml);
        var psi = Saectl.StartInfo("run", file, "--dir", tmp["runs"], "--quiet");
        psi.WorkingDirectory = tmp.Path;
        AssertError(Saectl.Run(psi), 2, message.Replace("{dir}", tmp.Path));
        Assert.False(Directory.Exists(tmp["runs"]), "a cluster folder was left behind");
    }

    // ---- watch ---------------------------------------------------------------------------------------

    /// <summary>watch talks to a cluster's HTTP API only: a folder is refused at once, exit 2
    /// (an unknown sweep on a live cluster is in Silo.Tests' SaectlClusterTests).</summary>
    [Fact]
    public void WatchRefusesAFolderForACluster()
    {
        using var tmp = new TempDir();
        AssertError(Saectl.Run("watch", "nosuch", "--cluster", tmp.Path), 2, $"--cluster: '{tmp.Path}' is not an http:// or https:// URL");
    }
}
