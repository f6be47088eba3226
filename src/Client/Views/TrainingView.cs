using System.Globalization;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Views;

/// <summary>
/// Shows a training run: a live progress bar (tokens/s, L0, FVU per SAE) on a terminal, plain log lines
/// otherwise (CI, pipes), then a results table.
/// </summary>
public static class TrainingView
{
    public static bool Interactive => AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

    /// <summary>Runs <paramref name="work"/> with a progress display it can report to.</summary>
    public static T WithProgress<T>(string title, long totalSteps, bool quiet, Func<Action<TrainingProgress>, T> work)
    {
        if (quiet) return work(_ => { });
        if (!Interactive)
            return work(p => Console.Error.WriteLine(Line(p)));
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(1, totalSteps));
                result = work(p =>
                {
                    task.Value = p.Step;
                    task.Description = Markup.Escape($"{title} {Summary(p)}");
                });
                task.StopTask();
            });
        return result;
    }

    static string Summary(TrainingProgress p)
    {
        string s = $"{p.Tokens:N0} tok, {p.TokensPerSecond:N0} tok/s";
        if (p.Saes.Count == 1) s += $", L0 {p.Saes[0].Metrics.L0:F1}, FVU {p.Saes[0].Metrics.Fvu:F3}";
        else s += $", L0 {p.Saes.Average(x => x.Metrics.L0):F1} avg, FVU {p.Saes.Average(x => x.Metrics.Fvu):F3} avg";
        return s;
    }

    static string Line(TrainingProgress p)
    {
        var inv = CultureInfo.InvariantCulture;
        var parts = p.Saes.Select(s => string.Format(inv, "{0}: L0 {1:F1} FVU {2:F4} loss {3:G4} dead {4:P1}", s.Name, s.Metrics.L0, s.Metrics.Fvu, s.Metrics.Loss, s.Metrics.DeadFraction));
        return string.Format(inv, "step {0}/{1} tokens {2} ({3:F0} tok/s) | {4}", p.Step, p.TotalSteps, p.Tokens, p.TokensPerSecond, string.Join(" | ", parts));
    }

    public static void Results(IReadOnlyList<SaeResult> results)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]SAEs trained[/]");
        foreach (var col in new[] { "SAE", "arch", "width", "k / λ", "lr", "L0", "FVU", "expl. var", "dead", "tokens/s" })
            table.AddColumn(new TableColumn(col).RightAligned());
        foreach (var r in results)
        {
            var c = r.Config;
            string sparsity = c.Architecture switch
            {
                SaeArchitecture.TopK or SaeArchitecture.BatchTopK => $"k={c.K}",
                SaeArchitecture.Relu => $"l1={c.L1Coefficient:G3}",
                _ => $"l0={c.L0Coefficient:G3}",
            };
            var e = r.Evaluation;
            string lr = r.LearningRate.ToString("0.##e0", CultureInfo.InvariantCulture) + (c.LearningRate is null ? " (default)" : "");
            table.AddRow(Markup.Escape(c.Name), c.Architecture.ToName(), c.Width.ToString("N0"), sparsity, lr,
                e.L0.ToString("F1"), e.Fvu.ToString("F4"), e.ExplainedVariance.ToString("P1"), e.DeadFraction.ToString("P1"),
                r.TokensPerSecond.ToString("N0"));
        }
        AnsiConsole.Write(table);
        foreach (var folder in results.Select(r => Path.GetDirectoryName(r.Folder)).Distinct())
            AnsiConsole.MarkupLine($"written to [bold]{Markup.Escape(Path.GetRelativePath(Environment.CurrentDirectory, results.Count == 1 ? results[0].Folder : folder!))}[/]");
    }
}
