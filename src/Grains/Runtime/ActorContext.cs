using System.Text.Json.Nodes;

namespace SaeCluster.Grains;

/// <summary>
/// What an activation gets from the runtime: its lease (key, epoch, last committed state), the stores,
/// a private work folder on this silo, and <see cref="CommitAsync"/>, the only way to write its row —
/// conditional on the epoch, so a stale activation can never overwrite a newer one.
/// </summary>
public sealed class ActorContext(ActorLease lease, string siloId, IClusterStore store, IBlobStore blobs, string workDirectory, Action<string> log)
{
    public string Key => lease.Key;
    public string Kind => lease.Kind;
    public long Epoch => lease.Epoch;
    public string SiloId => siloId;
    public IClusterStore Store => store;
    public IBlobStore Blobs => blobs;
    /// <summary>A folder for this activation's temporary files; deleted when it ends.</summary>
    public string WorkDirectory => workDirectory;
    /// <summary>The state as last committed (at claim: what the previous activation left).</summary>
    public string State { get; private set; } = lease.State;

    public void Log(string message) => log($"{Key}: {message}");

    /// <summary>The committed state as a JSON object (empty when there is none yet).</summary>
    public JsonObject StateObject() => ActorState.Parse(State);

    /// <summary>Writes state and status if this activation's epoch is still current; else throws <see cref="LeaseLostException"/>.</summary>
    public async Task CommitAsync(string state, ActorStatus status, CancellationToken ct = default)
    {
        if (!await store.CommitAsync(Key, Epoch, state, status, ct)) throw new LeaseLostException(Key, Epoch);
        State = state;
    }

    public Task CommitAsync(JsonObject state, ActorStatus status, CancellationToken ct = default) =>
        CommitAsync(state.ToJsonString(), status, ct);
}
