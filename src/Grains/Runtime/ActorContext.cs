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
        await _background; // in order: a progress snapshot must never land after a newer commit
        await CommitNowAsync(state, status, ct);
    }

    public Task CommitAsync(JsonObject state, ActorStatus status, CancellationToken ct = default) =>
        CommitAsync(state.ToJsonString(), status, ct);

    /// <summary>
    /// Commits a progress snapshot without waiting for the store (the caller keeps computing). Skipped when
    /// the previous one is still in flight; a fenced or failed one surfaces at the next commit.
    /// </summary>
    public void CommitInBackground(JsonObject state, ActorStatus status = ActorStatus.Running)
    {
        if (!_background.IsCompleted) return;
        _background.GetAwaiter().GetResult();
        _background = CommitNowAsync(state.ToJsonString(), status, CancellationToken.None);
    }

    Task _background = Task.CompletedTask;

    async Task CommitNowAsync(string state, ActorStatus status, CancellationToken ct)
    {
        if (!await SiloRuntime.Timed("commit", () => store.CommitAsync(Key, Epoch, state, status, ct))) throw new LeaseLostException(Key, Epoch);
        State = state;
        Status = status;
    }

    /// <summary>
    /// This actor's status as the store has it now, or null when the store does not answer within
    /// <paramref name="timeout"/>: how a fenced or stopped activation learns whether it was ended (cancelled,
    /// done) or only superseded by a newer activation.
    /// </summary>
    public async Task<ActorStatus?> StoredStatusAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { return (await store.GetAsync(Key, cts.Token))?.Status; }
        catch (Exception e) when (e is OperationCanceledException || SiloRuntime.IsTransient(e)) { return null; }
    }

    /// <summary>Set by the runtime when this activation's lease is gone: nothing it writes can become current, so it should not try.</summary>
    public bool LeaseLost { get; internal set; }

    /// <summary>The status as last committed by this activation (Running until it commits a terminal one).</summary>
    public ActorStatus Status { get; private set; } = ActorStatus.Running;

    public bool Finished => Status is ActorStatus.Done or ActorStatus.Failed or ActorStatus.Cancelled;
}
