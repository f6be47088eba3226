using System.CommandLine;
using SaeCluster.Client.Report;

namespace SaeCluster.Client.Commands;

/// <summary><c>saectl report FOLDER [--out report.html]</c>: one self-contained HTML page to judge every SAE under a run or sweep folder.</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("folder") { Description = "a run or sweep folder: every SAE folder under it (cfg.json + metrics.json or eval.json) is in the report" };
        var output = new Option<string?>("--out") { Description = $"the HTML file to write (default: FOLDER/{ReportBuilder.DefaultFileName})" };
        var cmd = new Command("report", "An HTML report of the SAEs under a folder: table, Pareto plots, firing densities, by-position and training curves, latent browser");
        cmd.Arguments.Add(folder);
        cmd.Options.Add(output);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            string path = ReportBuilder.Write(pr.GetValue(folder)!, pr.GetValue(output), line => Console.Error.WriteLine($"report: {line}"));
            Console.WriteLine($"wrote {path}");
            return 0;
        }));
        return cmd;
    }
}
