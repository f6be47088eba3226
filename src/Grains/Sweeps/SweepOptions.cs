namespace SaeCluster.Grains;

/// <summary>
/// How sweeps drive their work: the timer tick (pings every unfinished producer and trainer, which is
/// also how work lost with a silo starts again elsewhere), how long a ping may take, and the period of
/// the durable reminder that re-activates a sweep whose own silo was lost.
/// </summary>
public sealed record SweepOptions
{
    public TimeSpan Tick { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan PingTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan ReminderPeriod { get; init; } = TimeSpan.FromMinutes(1);
}
