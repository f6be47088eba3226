using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Serialization;
using SaeCluster.Grains;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl bench cluster</c>'s stand-in for a small trainer: the real work machinery (claim with an
/// ETag-checked epoch bump, a trainer slot, progress commits, a final commit) around work done in 50 ms
/// slices, whose measured time is the useful part of the run.
/// </summary>
public interface IBenchWorkGrain : IWorkGrain<BenchWorkReport>;

[GenerateSerializer, Immutable]
public sealed record BenchWorkReport([property: Id(0)] WorkStatus Status, [property: Id(1)] long DoneMs);

[GenerateSerializer]
public sealed class BenchWorkState : WorkState
{
    [Id(0)] public long DoneMs { get; set; }
    [Id(1)] public int WorkMs { get; set; }
}

[RolePlacement(SiloRoles.Trainer)]
public sealed class BenchWorkGrain(
    [PersistentState("bench", StorageNames.Default)] IPersistentState<BenchWorkState> stored,
    DeepCopier<BenchWorkState> copier, SiloWork silo, IBlobStore blobs, ILogger<BenchWorkGrain> log)
    : WorkGrain<BenchWorkState, BenchWorkReport>(stored, copier, silo, blobs, log), IBenchWorkGrain
{
    /// <summary>Work the bench grains measured themselves doing (ticks), summed over this process.</summary>
    public static long WorkTicks;

    /// <summary>Work per grain (ms), set by the bench before it starts them.</summary>
    public static int WorkMs = 500;

    /// <summary>Where a piece says it has committed Done, so the bench starts the next (no polling load on the silo).</summary>
    public static System.Threading.Channels.Channel<string> Finished = System.Threading.Channels.Channel.CreateUnbounded<string>();

    protected override string Kind => SiloRoles.Trainer;

    protected override BenchWorkReport BuildReport() => new(State.Status, State.DoneMs);

    protected override Task PublishAsync(BenchWorkReport report) => Task.CompletedTask;

    protected override async Task RunAsync(CancellationToken ct)
    {
        var sinceCommit = Stopwatch.StartNew();
        for (long done = State.DoneMs; done < WorkMs; done += 50)
        {
            long t0 = Stopwatch.GetTimestamp();
            await Task.Delay((int)Math.Min(50, WorkMs - done), ct);
            Interlocked.Add(ref WorkTicks, Stopwatch.GetTimestamp() - t0);
            if (sinceCommit.Elapsed >= TimeSpan.FromSeconds(1))
            {
                long d = done;
                await CommitAsync(s => s.DoneMs = d); // progress, as trainers commit checkpoints
                sinceCommit.Restart();
            }
        }
        ReleaseSlot(); // as producers and trainers do once their work is done: the final commit holds nothing
        await CommitAsync(s =>
        {
            s.DoneMs = WorkMs;
            s.Status = WorkStatus.Done;
            s.Phase = "done";
        });
        Finished.Writer.TryWrite(Key);
    }
}
