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

    /// <summary>The runtime, or null for an API-only silo.</summary>
    public SiloRuntime? Runtime => runtime;

    public DateTime Started { get; } = DateTime.UtcNow;

    /// <summary>Why the runtime loop stopped on its own (null while it runs, or for an API-only silo).</summary>
    public string? Fault => _fault;

    /// <summary>True once the runtime loop has returned (after shutdown, or after a fault).</summary>
    public bool Ended => _ended;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (runtime == null)
        {
            log.LogInformation("API-only silo: runs no actors (--slots none)");
            return;
        }
        try
        {
            await runtime.RunAsync(stoppingToken);
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
