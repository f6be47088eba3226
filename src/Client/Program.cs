using System.CommandLine;
using SaeCluster.Client.Commands;
using Spectre.Console;

namespace SaeCluster.Client;

/// <summary>saectl: train sparse autoencoders (embedded or on a cluster), benchmark them.</summary>
public static class Program
{
    public static Task<int> Main(string[] args)
    {
        if (Console.IsOutputRedirected)
        {
            // logs and pipes get plain text, wide enough for the tables
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No });
            AnsiConsole.Profile.Width = 160;
        }
        // Ctrl-C cancels the run, which then checkpoints; give that time before the process is forced down
        return BuildRoot().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromMinutes(5) });
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("saectl — train sparse autoencoders on language-model activations (SaeCluster)");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(SubmitCommand.Create());
        root.Subcommands.Add(StatusCommand.Create());
        root.Subcommands.Add(WatchCommand.Create());
        root.Subcommands.Add(CancelCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(QuickstartCommand.Create());
        root.Subcommands.Add(ModelCommand.Create());
        root.Subcommands.Add(ActivationsCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(SaeCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        return root;
    }
}
