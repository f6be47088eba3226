namespace SaeCluster.Grains;

/// <summary>
/// A unit of a sweep's work (an activation producer, an SAE trainer), driven by its sweep: StartAsync
/// starts it on this activation if it is unfinished and not running (idempotent: the sweep calls it on
/// every tick, which is how work lost with a silo resumes elsewhere); EndAsync stops and ends it
/// (cancelled); ForgetAsync removes its state (the sweep is being deleted).
/// </summary>
public interface IWorkGrain<TReport> : IGrainWithStringKey
{
    Task<TReport> StartAsync();

    Task<TReport> EndAsync(WorkStatus status);

    [AlwaysInterleave]
    Task<TReport> GetReportAsync();

    Task ForgetAsync();
}
