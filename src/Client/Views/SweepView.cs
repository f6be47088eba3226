using System.Globalization;
using SaeCluster.Grains;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace SaeCluster.Client.Views;

/// <summary>
/// Shows a sweep: a live table per trainer (site, state, tokens, tokens/s, L0, FVU) on a terminal, log
/// lines when something changes otherwise, and a results table per SAE at the end. Used by
/// <c>saectl run</c> and <c>saectl watch</c>.
/// </summary>
public static class SweepView
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Polls <paramref name="poll"/> until the sweep ends (or <paramref name="ct"/> fires), showing it live; returns the last status.</summary>
    public static async Task<SweepStatus> FollowAsync(Func<CancellationToken, Task<SweepStatus>> poll, bool quiet, TimeSpan interval, CancellationToken ct)
    {
        var status = await poll(ct);
        if (quiet)
        {
            while (!status.IsTerminal) { await Task.Delay(interval, ct); status = await poll(ct); }
            return status;
        }
        if (!TrainingView.Interactive)
        {
            var last = new Dictionary<string, string>();
            var lastSummary = DateTime.UtcNow;
            Print(status, last);
            while (!status.IsTerminal)
            {
                await Task.Delay(interval, ct);
                status = await poll(ct);
                bool changed = Print(status, last);
                if (!changed && DateTime.UtcNow - lastSummary > TimeSpan.FromSeconds(10))
                {
                    Console.Error.WriteLine(Summary(status));
                    lastSummary = DateTime.UtcNow;
                }
            }
            return status;
        }
        await AnsiConsole.Live(Table(status)).AutoClear(false).StartAsync(async live =>
        {
            while (!status.IsTerminal)
            {
                await Task.Delay(interval, ct);
                status = await poll(ct);
                live.UpdateTarget(Table(status));
            }
        });
        return status;
    }

    // One line per trainer whose state or phase changed; true when anything was printed.
    static bool Print(SweepStatus s, Dictionary<string, string> last)
    {
        bool any = false;
        string sweepKey = $"{s.State}|{s.ProducersDone}";
        if (!last.TryGetValue("", out var prev) || prev != sweepKey)
        {
            Console.Error.WriteLine(Summary(s));
            last[""] = sweepKey;
            any = true;
        }
        foreach (var t in s.Trainers)
        {
            string key = $"{t.State}|{t.Phase}";
            if (last.TryGetValue(t.Site, out var was) && was == key) continue;
            last[t.Site] = key;
            Console.Error.WriteLine(string.Format(Inv, "  {0,-12} {1,-9} {2,-10} {3:N0}/{4:N0} tok{5}{6}", t.Site, t.State, t.Phase, t.Tokens, t.TotalTokens,
                (t.Saes.Count > 0 ? string.Format(Inv, "  L0 {0:F1} FVU {1:F3}", t.Saes.Average(x => x.L0), t.Saes.Average(x => x.Fvu)) : "") +
                (t.Saes.Count > 0 && t.Saes.All(x => x.DeltaLoss != null) ? string.Format(Inv, " Δloss {0:F4} CE score {1:P1}", t.Saes.Average(x => x.DeltaLoss!.Value), t.Saes.Average(x => x.CeLossScore!.Value)) : ""),
                t.Error != null ? "  error: " + t.Error : ""));
            any = true;
        }
        return any;
    }

    public static string Summary(SweepStatus s)
    {
        long done = s.Trainers.Sum(t => t.Tokens), total = s.Trainers.Sum(t => t.TotalTokens);
        return string.Format(Inv, "sweep {0}: {1}; producers {2}/{3} done ({4:N0}/{5:N0} tokens); trainers {6}/{7} done; {8:P0} of training tokens",
            s.Id, s.State, s.ProducersDone, s.Producers, s.TokensProduced, s.TokensToProduce, s.Trainers.Count(t => t.State == "done"), s.Trainers.Count,
            total > 0 ? (double)done / total : 0);
    }

    public static IRenderable Table(SweepStatus s)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(Summary(s)));
        foreach (var c in new[] { "site", "state", "phase", "progress", "tokens", "tok/s", "L0", "FVU", "dead", "Δ loss", "CE score", "silo" })
            table.AddColumn(new TableColumn(c).RightAligned());
        foreach (var t in s.Trainers)
        {
            double frac = t.TotalTokens > 0 ? Math.Min(1, (double)t.Tokens / t.TotalTokens) : 0;
            string bar = new string('█', (int)(frac * 20)) + new string('░', 20 - (int)(frac * 20));
            table.AddRow(Markup.Escape(t.Site), StateMarkup(t.State), Markup.Escape(t.Phase), bar, t.Tokens.ToString("N0", Inv),
                t.TokensPerSecond.ToString("N0", Inv),
                t.Saes.Count > 0 ? t.Saes.Average(x => x.L0).ToString("F1", Inv) : "",
                t.Saes.Count > 0 ? t.Saes.Average(x => x.Fvu).ToString("F3", Inv) : "",
                t.Saes.Count > 0 ? t.Saes.Average(x => x.DeadFraction).ToString("P0", Inv) : "",
                Mean(t.Saes, x => x.DeltaLoss, "F4"), Mean(t.Saes, x => x.CeLossScore, "P1"),
                Markup.Escape(t.Silo ?? ""));
        }
        if (s.Error != null) table.Caption($"[red]{Markup.Escape(s.Error)}[/]");
        return table;
    }

    // the mean over a trainer's SAEs once every one has the number (the evaluation in the model), else blank
    static string Mean(IReadOnlyList<SaeStatus> saes, Func<SaeStatus, double?> value, string format) =>
        saes.Count > 0 && saes.All(x => value(x) != null) ? saes.Average(x => value(x)!.Value).ToString(format, Inv) : "";

    static string StateMarkup(string state) => state switch
    {
        "done" => "[green]done[/]",
        "failed" => "[red]failed[/]",
        "cancelled" => "[yellow]cancelled[/]",
        _ => state,
    };

    /// <summary>The final table: one row per SAE with its evaluation and where it was written.</summary>
    public static void Results(SweepStatus s, Func<string, string>? where = null)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]sweep {Markup.Escape(s.Id)}: {StateMarkup(s.State)}[/]");
        foreach (var c in new[] { "site", "SAE", "L0", "FVU", "expl. var", "dead", "Δ LM loss", "CE score", "output" })
            table.AddColumn(new TableColumn(c).RightAligned());
        foreach (var t in s.Trainers)
            foreach (var sae in t.Saes.Where(x => x.Output != null))
                table.AddRow(Markup.Escape(t.Site), Markup.Escape(sae.Name), sae.L0.ToString("F1", Inv), sae.Fvu.ToString("F4", Inv),
                    (1 - sae.Fvu).ToString("P1", Inv), sae.DeadFraction.ToString("P1", Inv),
                    sae.DeltaLoss?.ToString("F4", Inv) ?? "", sae.CeLossScore?.ToString("P1", Inv) ?? "",
                    Markup.Escape(where?.Invoke(sae.Output!) ?? sae.Output!));
        AnsiConsole.Write(table);
        if (s.Error != null) Console.Error.WriteLine($"error: {s.Error}");
    }
}
