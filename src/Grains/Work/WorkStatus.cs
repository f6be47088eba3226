namespace SaeCluster.Grains;

/// <summary>Lifecycle of a unit of work (a sweep, a producer, a trainer). Done, Failed and Cancelled are final.</summary>
[GenerateSerializer]
public enum WorkStatus { Pending = 0, Running = 1, Done = 2, Failed = 3, Cancelled = 4 }

public static class WorkStatuses
{
    public static bool IsFinal(this WorkStatus s) => s is WorkStatus.Done or WorkStatus.Failed or WorkStatus.Cancelled;

    /// <summary>The name the API and saectl show: pending, running, done, failed, cancelled.</summary>
    public static string Name(this WorkStatus s) => s switch
    {
        WorkStatus.Pending => "pending",
        WorkStatus.Running => "running",
        WorkStatus.Done => "done",
        WorkStatus.Failed => "failed",
        _ => "cancelled",
    };
}
