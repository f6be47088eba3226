using Microsoft.Extensions.Logging;

namespace SaeCluster.Grains;

/// <summary>
/// When a coordinator silo becomes active it touches every sweep in the index, so that unfinished ones
/// activate and drive their work at once — after a restart of a single-silo cluster (whose reminders are in
/// memory) as after a whole cluster's restart, without waiting for a reminder period.
/// </summary>
public sealed class SweepResumer(IGrainFactory grains, ILogger<SweepResumer> log) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe<SweepResumer>(ServiceLifecycleStage.Active, ct =>
    {
        _ = Task.Run(ResumeAsync);
        return Task.CompletedTask;
    });

    async Task ResumeAsync()
    {
        for (int attempt = 1; attempt <= 5; attempt++)
        {
            try
            {
                var unfinished = (await new SweepService(grains).ListAsync()).Where(s => !s.IsTerminal).Select(s => s.Id).ToArray();
                if (unfinished.Length > 0) log.LogInformation("resumed {Count} unfinished sweep(s): {Sweeps}", unfinished.Length, string.Join(", ", unfinished));
                return;
            }
            catch (Exception e) when (TransientErrors.Is(e) || e is TimeoutException)
            {
                log.LogWarning("could not list the sweeps to resume ({Message}); trying again", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(2 * attempt));
            }
        }
    }
}
