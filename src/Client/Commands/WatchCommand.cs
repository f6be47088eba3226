using System.CommandLine;
using SaeCluster.Client.Views;
using SaeCluster.Grains;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl watch ID --cluster URL</c>: follows a sweep on a running cluster (live table on a terminal,
/// a line per change otherwise) and ends with its results table. Exit code 0 when the sweep is done, 1 when
/// it failed or was cancelled, 130 on Ctrl-C (which stops watching, not the sweep).
/// </summary>
public static class WatchCommand
{
    /// <summary>How long a watcher keeps retrying a silo that stopped answering (a restart, a rollout).</summary>
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var id = new Argument<string>("id") { Description = "the sweep (its name:)" };
        var cluster = new ClusterOptions();
        var cmd = new Command("watch", "Follow a sweep on a running cluster until it ends");
        cmd.Arguments.Add(id);
        cluster.AddTo(cmd);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            using var client = cluster.Client(pr);
            return FollowAsync(client, pr.GetValue(id)!, json: false, ct).GetAwaiter().GetResult();
        }));
        return cmd;
    }

    /// <summary>Follows the sweep to its end; with <paramref name="json"/> prints only the final status as JSON.</summary>
    public static async Task<int> FollowAsync(ClusterClient client, string id, bool json, CancellationToken ct)
    {
        string lastJson = "";
        DateTime? failingSince = null;
        async Task<SweepStatus> Poll(CancellationToken c)
        {
            while (true)
            {
                try
                {
                    var reply = await client.GetAsync(id, c);
                    if (failingSince != null) Console.Error.WriteLine($"the cluster at {client.Url} answers again");
                    failingSince = null;
                    lastJson = reply.Json;
                    return reply.Value;
                }
                catch (ClusterException e) when (e.Unreachable && (failingSince == null || DateTime.UtcNow - failingSince < Patience))
                {
                    if (failingSince == null) Console.Error.WriteLine($"{e.Message}; retrying for up to {Patience.TotalSeconds:F0} s");
                    failingSince ??= DateTime.UtcNow;
                    await Task.Delay(TimeSpan.FromSeconds(2), c);
                }
            }
        }

        SweepStatus status;
        try { status = await SweepView.FollowAsync(Poll, quiet: json, TimeSpan.FromSeconds(1), ct); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine($"stopped watching; sweep '{id}' goes on (saectl watch {id}, saectl cancel {id})");
            throw;
        }
        if (json) Console.Out.WriteLine(lastJson);
        else SweepView.Results(status);
        return status.State == "done" ? 0 : CliErrors.Failed;
    }
}
