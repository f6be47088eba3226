using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Client.Views;
using SaeCluster.Models;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl eval</c>: SAEs in any format we read, judged inside the model on held-out text — L0, FVU, delta LM loss,
/// CE loss score, KL, by position, firing densities and each latent's top contexts (eval.json, latents.json).
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var sae = new Option<string[]>("--sae") { Description = "SAEs: folders or files in any format `saectl sae info` reads, or folders holding many (a run's or a sweep's outputs)", Required = true, AllowMultipleArgumentsPerToken = true };
        var model = new Option<string>("--model") { Description = "the Hugging Face checkpoint folder the SAEs were trained on", Required = true };
        var data = new Option<string[]>("--data") { Description = "held-out corpus: files, folders or globs (text, .jsonl, .parquet, .u16/.u32)", Required = true, AllowMultipleArgumentsPerToken = true };
        var textField = new Option<string>("--text-field") { Description = "JSONL field or Parquet column holding the text", DefaultValueFactory = _ => "text" };
        var tokens = new Option<long>("--tokens") { Description = "tokens to evaluate on", DefaultValueFactory = _ => 32_768 };
        var context = new Option<int?>("--context") { Description = "tokens per context (default: the SAE's training context, else 128)" };
        var skip = new Option<long>("--skip-contexts") { Description = "contexts of the corpus to skip first (those training used)", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "contexts per forward pass", DefaultValueFactory = _ => 8 };
        var hook = new Option<string?>("--hook") { Description = "the hook for SAEs whose files do not name one, e.g. blocks.12.hook_resid_post" };
        var includeSpecial = new Option<bool>("--include-special") { Description = "splice and count BOS/EOS/pad positions too (by default they keep their clean activation and are left out)" };
        var json = new Option<bool>("--json") { Description = "print the results as JSON" };
        var quiet = new Option<bool>("--quiet") { Description = "no progress output" };
        var cmd = new Command("eval", "Evaluate SAEs in the model: L0, FVU, delta LM loss, CE loss score, KL, by position; writes eval.json and latents.json beside each SAE");
        foreach (var o in new Option[] { sae, model, data, textField, tokens, context, skip, batch, hook, includeSpecial, json, quiet }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var options = new EvalOptions { Tokens = pr.GetValue(tokens), BatchContexts = pr.GetValue(batch), IncludeSpecial = pr.GetValue(includeSpecial) }.Validate();
            string modelDir = Path.GetFullPath(pr.GetValue(model)!);
            if (!File.Exists(Path.Combine(modelDir, "config.json"))) throw new ConfigException("--model", $"{modelDir} has no config.json");
            var saes = pr.GetValue(sae)!.SelectMany(SaeFiles.FindAll).Distinct().Select(p => SaeFiles.Read(p)).ToArray();
            var corpus = CliValues.Corpus(pr.GetValue(data)!, pr.GetValue(textField)!); // a bad path or missing column fails before the model loads
            bool q = pr.GetValue(quiet);
            if (!q) Console.Error.WriteLine($"{saes.Length} SAE(s) on {modelDir}: {options.Tokens:N0} tokens of {corpus.Files.Count} corpus file(s); " +
                (options.IncludeSpecial ? "BOS/EOS/pad positions included" : "BOS/EOS/pad positions keep their clean activation and are left out of every average (--include-special counts them)"));
            IReadOnlyList<SaeEvalResult> results = [];
            void Work(Action<SpliceEvaluation.Progress>? p) =>
                results = ModelEvaluation.Run(modelDir, saes, corpus, options, pr.GetValue(context), pr.GetValue(hook), pr.GetValue(skip), progress: p, ct: ct);
            if (q || !TrainingView.Interactive) Work(q ? null : p => Console.Error.WriteLine($"evaluated {p.Tokens:N0}/{p.Total:N0} tokens"));
            else
                AnsiConsole.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx => { var task = ctx.AddTask("evaluating", maxValue: options.Tokens); Work(p => task.Value = Math.Min(p.Tokens, p.Total)); });
            if (pr.GetValue(json)) Console.WriteLine(new JsonArray([.. results.Select(r => (JsonNode?)r.Eval.DeepClone())]).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Table(results);
            return 0;
        }));
        return cmd;
    }

    static void Table(IReadOnlyList<SaeEvalResult> results)
    {
        var t = new Table().Border(TableBorder.Rounded).Title($"[bold]SAEs in the model[/] (CE clean {results[0].CeClean:F4} nats/token)");
        foreach (var c in new[] { "site", "SAE", "L0", "FVU", "Δ LM loss", "CE score", "KL", "CE zero-abl.", "dead" }) t.AddColumn(new TableColumn(c).RightAligned());
        foreach (var r in results.OrderBy(r => r.Sae.Layer).ThenBy(r => r.Sae.Site).ThenBy(r => r.Sae.Name, StringComparer.Ordinal))
            t.AddRow($"{r.Sae.Layer}.{r.Sae.Site.Name()}", Markup.Escape(r.Sae.Name), r.L0.ToString("F1"), r.Fvu.ToString("F4"), r.DeltaLoss.ToString("F4"),
                $"{r.CeLossScore * 100:F1} %", r.Kl.ToString("F4"), r.CeZero.ToString("F3"), $"{r.DeadFraction * 100:F1} %");
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine($"eval.json and latents.json written beside each SAE ({Markup.Escape(Path.GetRelativePath(Environment.CurrentDirectory, results[0].Sae.Folder))}, …); `saectl report` draws them");
    }
}
