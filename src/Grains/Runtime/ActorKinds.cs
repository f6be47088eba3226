namespace SaeCluster.Grains;

/// <summary>The kinds of actor, which are also the capabilities silos offer slots for.</summary>
public static class ActorKinds
{
    public const string Coordinator = "coordinator";
    public const string Producer = "producer";
    public const string Trainer = "trainer";
    public static readonly string[] All = [Coordinator, Producer, Trainer];
}
