using System.CommandLine;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl submit sweep.yaml --cluster URL</c>: sends the sweep to a running cluster. Only YAML syntax is
/// checked here; the silo validates the rest, since paths (model, corpus) are as the silos see them, and
/// its error comes back verbatim (exit code 2). <c>--watch</c> then follows it like <c>saectl watch</c>.
/// </summary>
public static class SubmitCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("sweep") { Description = "sweep YAML; relative paths in it resolve on the silos (against their --data-root)" };
        var json = new Option<bool>("--json") { Description = "print the silo's JSON reply (with --watch: the final status)" };
        var watch = new Option<bool>("--watch") { Description = "follow the sweep until it ends; exit 0 when done, 1 when failed or cancelled" };
        var cluster = new ClusterOptions();
        var cmd = new Command("submit", "Submit a sweep to a running cluster");
        cmd.Arguments.Add(file);
        cluster.AddTo(cmd);
        cmd.Options.Add(json);
        cmd.Options.Add(watch);
        cmd.SetAction((pr, ct) => CliErrors.Run(() => RunAsync(pr.GetValue(file)!, cluster, pr, pr.GetValue(json), pr.GetValue(watch), ct).GetAwaiter().GetResult()));
        return cmd;
    }

    static async Task<int> RunAsync(string path, ClusterOptions options, ParseResult pr, bool json, bool watch, CancellationToken ct)
    {
        if (!File.Exists(path)) throw new ConfigException(path, "no such file");
        string text;
        try { text = await File.ReadAllTextAsync(path, ct); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigException(path, $"cannot be read ({e.Message})"); }
        YamlFields.ReadRoot(new StringReader(text), path, "name:, model:, corpus:, context:, tokens:, sites:, saes: …"); // syntax only

        using var client = options.Client(pr);
        var reply = await client.SubmitAsync(text, Path.GetFileName(path), ct);
        if (!watch)
        {
            if (json) Console.Out.WriteLine(reply.Json);
            else
            {
                Console.Out.WriteLine($"submitted sweep '{reply.Value}' to {client.Url}");
                Console.Error.WriteLine($"follow it: saectl watch {reply.Value} --cluster {client.Url}");
            }
            return 0;
        }
        if (!json) Console.Error.WriteLine($"submitted sweep '{reply.Value}' to {client.Url}");
        return await WatchCommand.FollowAsync(client, reply.Value, json, ct);
    }
}
