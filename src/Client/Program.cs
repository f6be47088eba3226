using System.CommandLine;
using SaeCluster.Client.Commands;

namespace SaeCluster.Client;

/// <summary>saectl: train sparse autoencoders (embedded), benchmark them.</summary>
public static class Program
{
    public static Task<int> Main(string[] args) => BuildRoot().Parse(args).InvokeAsync();

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("saectl — train sparse autoencoders on language-model activations (SaeCluster)");
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        return root;
    }
}
