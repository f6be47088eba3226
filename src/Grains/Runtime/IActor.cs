namespace SaeCluster.Grains;

/// <summary>
/// One kind of actor (coordinator, producer, trainer): the runtime claims an actor row, builds the actor
/// for its kind and calls <see cref="RunAsync"/> with the lease in <paramref name="context"/>. The actor
/// commits its state through the context (fenced by epoch) and ends by committing a terminal status.
/// <paramref name="ct"/> fires when the silo shuts down (save what is worth saving, then return) or the
/// lease is lost (any further commit throws <see cref="LeaseLostException"/>).
/// </summary>
public interface IActor
{
    Task RunAsync(ActorContext context, CancellationToken ct);
}
