namespace SaeCluster.Grains;

/// <summary>The actor for each kind, as a silo's runtime builds them.</summary>
public static class SweepActors
{
    public static IActor Create(string kind) => kind switch
    {
        ActorKinds.Coordinator => new SweepCoordinatorActor(),
        ActorKinds.Producer => new ActivationProducerActor(),
        ActorKinds.Trainer => new SaeTrainerActor(),
        _ => throw new ActorFailedException($"this silo does not know actors of kind '{kind}'"),
    };
}
