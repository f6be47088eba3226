using SaeCluster.Grains;

namespace SaeCluster.Silo;

/// <summary>
/// Runs the actor runtime for the life of the host. On shutdown (SIGTERM, Ctrl-C) the host cancels the
/// token and waits for <see cref="SiloRuntime.RunAsync"/> to return, i.e. for activations to checkpoint and
/// hand their leases back (HostOptions.ShutdownTimeout is set above the runtime's grace).
/// </summary>
public sealed class SiloWorker(SiloRuntime? runtime, ILogger<SiloWorker> log) : BackgroundService
{
    volatile string? _fault;
    volatile bool _ended;
    readonly CancellationTokenSource _drain = new();

    /// <summary>The runtime, or null for an API-only silo.</summary>
    public SiloRuntime? Runtime => runtime;

    public DateTime Started { get; } = DateTime.UtcNow;

    /// <summary>Why the runtime loop stopped on its own (null while it runs, or for an API-only silo).</summary>
    public string? Fault => _fault;

    /// <summary>True once the runtime loop has returned (after shutdown, a drain, or a fault).</summary>
    public bool Ended => _ended;

    /// <summary>True once <see cref="DrainAsync"/> was called: the silo claims nothing more.</summary>
    public bool Draining => _drain.IsCancellationRequested;

    /// <summary>
    /// Stops the runtime as a shutdown would (activations checkpoint and hand their leases back) while the
    /// process and its API stay up: the preStop hook of a pod, before SIGTERM. Returns the number of leases
    /// the silo held when the drain began, once the runtime loop has ended.
    /// </summary>
    public async Task<int> DrainAsync(CancellationToken ct)
    {
        if (runtime == null) return 0;
        int held = runtime.Activations.Count;
        if (!_drain.IsCancellationRequested) log.LogInformation("draining: handing back {Count} lease(s) and claiming no more", held);
        _drain.Cancel();
        if (ExecuteTask != null) await ExecuteTask.WaitAsync(ct);
        return held;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (runtime == null)
        {
            log.LogInformation("API-only silo: runs no actors (--slots none)");
            return;
        }
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _drain.Token);
            await runtime.RunAsync(stop.Token);
        }
        catch (Exception e)
        {
            _fault = $"{e.GetType().Name}: {e.Message}";
            log.LogCritical(e, "the silo's runtime loop failed; stopping the silo");
            Environment.ExitCode = 1;
            throw; // BackgroundServiceExceptionBehavior.StopHost: a supervisor restarts us
        }
        finally { _ended = true; }
    }
}
