using System.CommandLine;

namespace SaeCluster.Client.Commands;

/// <summary><c>saectl cancel ID --cluster URL</c>: cancels a sweep; its running actors are fenced and stop.</summary>
public static class CancelCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("id") { Description = "the sweep (its name:)" };
        var json = new Option<bool>("--json") { Description = "print the silo's JSON reply (the sweep's status)" };
        var cluster = new ClusterOptions();
        var cmd = new Command("cancel", "Cancel a sweep on a running cluster");
        cmd.Arguments.Add(id);
        cluster.AddTo(cmd);
        cmd.Options.Add(json);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            using var client = cluster.Client(pr);
            var reply = client.CancelAsync(pr.GetValue(id)!, ct).GetAwaiter().GetResult();
            if (pr.GetValue(json)) Console.Out.WriteLine(reply.Json);
            else Console.Out.WriteLine($"sweep '{reply.Value.Id}': {reply.Value.State}");
            return 0;
        }));
        return cmd;
    }
}
