using System.Text.Json.Nodes;

namespace SaeCluster.Client.Tests;

/// <summary><c>saectl eval</c> as a user runs it: activations of the trained tiny Gemma 2, an SAE trained on them, evaluated in the model on other text.</summary>
public class EvalCliTests
{
    static string Root([System.Runtime.CompilerServices.CallerFilePath] string p = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(p)!, "..", ".."));
    static readonly string Model = Path.Combine(Root(), "models", "tiny-gemma2-code");
    static readonly string Py = Directory.GetDirectories("/usr/lib", "python3*").Order().First(d => File.Exists(Path.Combine(d, "json", "encoder.py")));

    [Fact]
    public void EvaluatesATrainedSaeAndEveryFormatOfIt()
    {
        using var tmp = new TempDir();
        var acts = Saectl.Run("activations", "--model", Model, "--data", Path.Combine(Py, "json", "*.py"), "--sites", "res:1",
            "--tokens", "20000", "--context", "128", "--chunk-contexts", "32", "--out", tmp["acts"], "--quiet");
        Assert.True(acts.ExitCode == 0, acts.Stderr);
        var train = Saectl.Run("train", "--data", tmp["acts/1.res"], "--out", tmp["sae"], "--arch", "topk", "--width", "256", "--k", "8",
            "--tokens", "40960", "--batch", "1024", "--eval-tokens", "4096", "--formats", "dictlearn", "--quiet");
        Assert.True(train.ExitCode == 0, train.Stderr);

        var eval = Saectl.Run("eval", "--sae", tmp["sae"], tmp["sae/dictlearn"], "--model", Model, "--data", Path.Combine(Py, "email", "*.py"),
            "--tokens", "2048", "--context", "64", "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Contains("BOS/EOS/pad positions keep their clean activation and are left out", eval.Stderr);
        var results = JsonNode.Parse(eval.Stdout)!.AsArray();
        Assert.Equal(2, results.Count);
        var (saelens, dl) = (results[0]!, results[1]!);
        Assert.Equal("saelens", (string?)saelens["format"]);
        Assert.Equal("dictlearn", (string?)dl["format"]);
        Assert.Equal("blocks.1.hook_resid_post", (string?)saelens["hook"]);
        foreach (var key in new[] { "l0", "fvu", "ce_clean", "ce_sae", "ce_zero", "delta_loss", "ce_loss_score", "kl" })
            Assert.Equal((double)saelens[key]!, (double)dl[key]!, 5); // the same SAE in two formats
        Assert.Equal(8.0, (double)saelens["l0"]!, 1);
        Assert.InRange((double)saelens["ce_loss_score"]!, 0.5, 1.0);
        Assert.True((double)saelens["ce_zero"]! > (double)saelens["ce_sae"]!);
        Assert.Equal((double)saelens["ce_sae"]! - (double)saelens["ce_clean"]!, (double)saelens["delta_loss"]!, 9);
        Assert.Equal(2048, (long)saelens["tokens_seen"]!);
        Assert.Equal(64, (int)saelens["context"]!);

        foreach (var f in new[] { "eval.json", "latents.json" }) Assert.True(File.Exists(Path.Combine(tmp["sae"], f)), f);
        var metrics = JsonNode.Parse(File.ReadAllText(tmp["sae/metrics.json"]))!;
        Assert.Equal((double)saelens["delta_loss"]!, (double)metrics["delta_loss"]!, 9);
        Assert.Equal((double)saelens["ce_loss_score"]!, (double)metrics["ce_loss_score"]!, 9);
        Assert.NotNull(metrics["l0"]); // what training wrote stays
        var latents = JsonNode.Parse(File.ReadAllText(tmp["sae/latents.json"]))!["latents"]!.AsArray();
        Assert.Contains(latents, l => (string?)l!["kind"] == "densest");
        Assert.All(latents, l => Assert.NotEmpty(l!["examples"]!.AsArray()));

        // the report over what eval wrote (not a fixture): every plot of the site drawn, the SAE in the table, its latents
        var report = Saectl.Run("report", tmp.Path, "--out", tmp["report.html"]);
        Assert.True(report.ExitCode == 0, report.Stderr);
        string html = File.ReadAllText(tmp["report.html"]);
        Assert.True(System.Text.RegularExpressions.Regex.Matches(html, "<svg").Count >= 6, "plots");
        Assert.Contains(((double)saelens["delta_loss"]!).ToString("F4", System.Globalization.CultureInfo.InvariantCulture), html);
        foreach (var missing in new[] { "No eval.json", "have no eval.json", "No delta LM loss", "No FVU by position", "No firing densities" }) Assert.DoesNotContain(missing, html);
        Assert.Contains("densest", html);

        // the table, and a whole run folder at once
        var table = Saectl.Run("eval", "--sae", tmp.Path, "--model", Model, "--data", Path.Combine(Py, "email", "*.py"), "--tokens", "1024", "--quiet");
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("CE score", table.Stdout);
        Assert.Contains("1.res", table.Stdout);
    }

    [Fact]
    public void BadInputSaysWhatIsWrong()
    {
        using var tmp = new TempDir();
        var other = Saectl.Run("model", "init-random", "--type", "gemma2", "--out", tmp["g2"], "--hidden", "64");
        Assert.True(other.ExitCode == 0, other.Stderr);
        // an SAE of the wrong width for the model's site
        var sae = Saectl.Run("activations", "--model", Model, "--data", Path.Combine(Py, "json", "*.py"), "--sites", "res:1",
            "--tokens", "8192", "--context", "64", "--chunk-contexts", "32", "--out", tmp["acts"], "--quiet");
        Assert.True(sae.ExitCode == 0, sae.Stderr);
        Assert.Equal(0, Saectl.Run("train", "--data", tmp["acts/1.res"], "--out", tmp["sae"], "--arch", "jumprelu", "--width", "64", "--l0-coeff", "0.01",
            "--tokens", "4096", "--batch", "1024", "--eval-tokens", "1024", "--quiet").ExitCode);
        var wide = Saectl.Run("eval", "--sae", tmp["sae"], "--model", tmp["g2"], "--data", Path.Combine(Py, "json", "*.py"), "--tokens", "256");
        Assert.Equal(2, wide.ExitCode);
        Assert.Contains("takes d_in = 128; blocks.1.hook_resid_post of this model is 64 wide", wide.Stderr);
        Assert.False(File.Exists(tmp["sae/eval.json"]));

        // a Gemma Scope file outside a release's path does not say its hook: --hook does
        Assert.Equal(0, Saectl.Run("sae", "convert", tmp["sae"], "--to", "gemmascope", "--out", tmp["gs"]).ExitCode);
        var noHook = Saectl.Run("eval", "--sae", tmp["gs"], "--model", Model, "--data", Path.Combine(Py, "json", "*.py"), "--tokens", "256");
        Assert.Equal(2, noHook.ExitCode);
        Assert.Contains("--hook", noHook.Stderr);
        var withHook = Saectl.Run("eval", "--sae", tmp["gs"], "--model", Model, "--data", Path.Combine(Py, "json", "*.py"), "--tokens", "256",
            "--hook", "blocks.1.hook_resid_post", "--quiet");
        Assert.True(withHook.ExitCode == 0, withHook.Stderr);
        Assert.True(File.Exists(tmp["gs/eval.json"]));

        var missing = Saectl.Run("eval", "--sae", tmp["nothing"], "--model", Model, "--data", "x");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no such file or folder", missing.Stderr);
    }
}
