namespace SaeCluster.Grains;

/// <summary>Shows this silo's work in /metrics from the moment the silo is active until it stops (slots, activations, error counters from zero).</summary>
public sealed class SiloWorkTelemetry(SiloWork work) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe<SiloWorkTelemetry>(ServiceLifecycleStage.Active,
        _ =>
        {
            SaeClusterMetrics.Silos.Add(work);
            foreach (var kind in work.Options.Slots.Keys)
                SaeClusterMetrics.LeasesLost.Add(0, new("silo", work.SiloName), new("kind", kind)); // a series from the start, not from the first loss
            SaeClusterMetrics.StartErrorCounters(work.Options.Slots.Keys);
            return Task.CompletedTask;
        },
        _ =>
        {
            SaeClusterMetrics.Silos.Remove(work, TimeSpan.Zero);
            return Task.CompletedTask;
        });
}
