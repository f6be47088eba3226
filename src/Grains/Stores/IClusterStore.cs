namespace SaeCluster.Grains;

/// <summary>
/// The durable table of actors and silos behind the actor runtime (the Orleans substitute): an actor is
/// claimed atomically by one silo at a time, its lease renewed while it works, and every claim bumps its
/// epoch; state writes are conditional on the epoch, so a stale activation can never overwrite a newer one.
/// Implementations: SQLite (embedded) and PostgreSQL (cluster), held to one conformance suite.
/// </summary>
public interface IClusterStore : IAsyncDisposable
{
    /// <summary>Creates the tables if they are missing.</summary>
    Task InitializeAsync(CancellationToken ct = default);

    /// <summary>Adds an actor in state Pending; false (and no change) when the key exists.</summary>
    Task<bool> CreateActorAsync(string key, string kind, string? capability, string state, CancellationToken ct = default);

    /// <summary>Claims one claimable actor whose capability this silo offers (or that needs none); null when there is none.</summary>
    Task<ActorLease?> TryClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, CancellationToken ct = default);

    /// <summary>Claims up to <paramref name="max"/> claimable actors in one atomic statement (by key order); empty when there are none.</summary>
    Task<IReadOnlyList<ActorLease>> ClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, int max, CancellationToken ct = default);

    /// <summary>Extends a lease; false when the claim is no longer this silo's (expired and re-claimed, released, finished).</summary>
    Task<bool> RenewAsync(string key, long epoch, string silo, TimeSpan lease, CancellationToken ct = default);

    /// <summary>Hands a lease back (graceful shutdown): the actor is claimable at once. False when the epoch is stale.</summary>
    Task<bool> ReleaseAsync(string key, long epoch, CancellationToken ct = default);

    /// <summary>Writes state and status if <paramref name="epoch"/> is still current; terminal statuses end the lease.</summary>
    Task<bool> CommitAsync(string key, long epoch, string state, ActorStatus status, CancellationToken ct = default);

    /// <summary>
    /// Ends every Pending or Running actor under <paramref name="keyPrefix"/> with <paramref name="status"/>
    /// (Cancelled or Failed): bumps each epoch, so their activations are fenced (renewals and commits fail)
    /// and stop. Returns how many actors were ended.
    /// </summary>
    Task<int> EndAllAsync(string keyPrefix, ActorStatus status, CancellationToken ct = default);

    /// <summary>Removes every actor under <paramref name="keyPrefix"/> (any status); returns how many.</summary>
    Task<int> DeleteAllAsync(string keyPrefix, CancellationToken ct = default);

    Task<ActorRecord?> GetAsync(string key, CancellationToken ct = default);

    /// <summary>Actors whose key starts with <paramref name="keyPrefix"/> (and of <paramref name="kind"/>, when given), by key.</summary>
    Task<IReadOnlyList<ActorRecord>> ListAsync(string keyPrefix, string? kind = null, CancellationToken ct = default);

    Task HeartbeatAsync(string silo, IReadOnlyCollection<string> capabilities, CancellationToken ct = default);

    /// <summary>Silos whose last heartbeat is within <paramref name="aliveWithin"/>.</summary>
    Task<IReadOnlyList<SiloInfo>> SilosAsync(TimeSpan aliveWithin, CancellationToken ct = default);
}
