using System.CommandLine;
using System.Globalization;
using SaeCluster.Client.Views;
using SaeCluster.Grains;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl status [ID] --cluster URL</c>: without an id, one row per sweep on the cluster; with one, that
/// sweep's trainer table (and its results once done). <c>--json</c> prints the silo's JSON.
/// </summary>
public static class StatusCommand
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Create()
    {
        var id = new Argument<string?>("id") { Description = "a sweep (its name:); all sweeps when left out", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "print the silo's JSON reply" };
        var cluster = new ClusterOptions();
        var cmd = new Command("status", "Show the sweeps on a running cluster, or one sweep");
        cmd.Arguments.Add(id);
        cluster.AddTo(cmd);
        cmd.Options.Add(json);
        cmd.SetAction((pr, ct) => CliErrors.Run(() => RunAsync(cluster, pr, pr.GetValue(id), pr.GetValue(json), ct).GetAwaiter().GetResult()));
        return cmd;
    }

    static async Task<int> RunAsync(ClusterOptions options, ParseResult pr, string? id, bool json, CancellationToken ct)
    {
        using var client = options.Client(pr);
        if (id != null)
        {
            var reply = await client.GetAsync(id, ct);
            if (json) { Console.Out.WriteLine(reply.Json); return 0; }
            AnsiConsole.Write(SweepView.Table(reply.Value));
            if (reply.Value.State == "done") SweepView.Results(reply.Value);
            else if (reply.Value.Error != null) Console.Error.WriteLine($"error: {reply.Value.Error}");
            return 0;
        }
        var list = await client.ListAsync(ct);
        if (json) { Console.Out.WriteLine(list.Json); return 0; }
        if (list.Value.Count == 0) { Console.Out.WriteLine($"no sweeps on the cluster at {client.Url}"); return 0; }
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"sweeps on {client.Url}"));
        foreach (var c in new[] { "sweep", "state", "submitted", "finished", "producers", "trainers", "training", "error" })
            table.AddColumn(new TableColumn(c));
        foreach (var s in list.Value)
        {
            long done = s.Trainers.Sum(t => t.Tokens), total = s.Trainers.Sum(t => t.TotalTokens);
            table.AddRow(Markup.Escape(s.Id), Markup.Escape(s.State), Time(s.Submitted), Time(s.Finished),
                $"{s.ProducersDone}/{s.Producers}", $"{s.Trainers.Count(t => t.State == "done")}/{s.Trainers.Count}",
                total > 0 ? ((double)done / total).ToString("P0", Inv) : "",
                Markup.Escape(Shorten(s.Error)));
        }
        AnsiConsole.Write(table);
        return 0;
    }

    static string Time(DateTimeOffset? t) => t?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", Inv) ?? "";

    static string Shorten(string? s) => s == null ? "" : s.Length > 60 ? s[..60] + "…" : s;
}
