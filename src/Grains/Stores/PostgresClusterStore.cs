using Npgsql;

namespace SaeCluster.Grains;

/// <summary>
/// The cluster store on PostgreSQL: claims are one statement with <c>FOR UPDATE SKIP LOCKED</c>, so many
/// silos claim in parallel without blocking on each other. Same table shape and semantics as the SQLite
/// store (times as Unix milliseconds from the injected clock).
/// </summary>
public sealed class PostgresClusterStore(string connectionString, TimeProvider? clock = null) : IClusterStore
{
    readonly TimeProvider _clock = clock ?? TimeProvider.System;
    readonly NpgsqlDataSource _db = NpgsqlDataSource.Create(connectionString);

    long Now => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        await ExecuteAsync(ct, """
            CREATE TABLE IF NOT EXISTS actors (
                key TEXT PRIMARY KEY, kind TEXT NOT NULL, capability TEXT, status INTEGER NOT NULL,
                epoch BIGINT NOT NULL, owner TEXT, lease_expires BIGINT, state TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS actors_claimable ON actors (status, lease_expires);
            CREATE TABLE IF NOT EXISTS silos (id TEXT PRIMARY KEY, capabilities TEXT NOT NULL, heartbeat BIGINT NOT NULL);
            """);
    }

    public async Task<bool> CreateActorAsync(string key, string kind, string? capability, string state, CancellationToken ct = default) =>
        await ExecuteAsync(ct, "INSERT INTO actors (key, kind, capability, status, epoch, state) VALUES (@key, @kind, @cap, 0, 0, @state) ON CONFLICT (key) DO NOTHING",
            ("key", key), ("kind", kind), ("cap", capability), ("state", state)) == 1;

    public async Task<ActorLease?> TryClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, CancellationToken ct = default)
    {
        long now = Now, expires = now + (long)lease.TotalMilliseconds;
        await using var cmd = _db.CreateCommand("""
            WITH c AS (
                SELECT key FROM actors
                WHERE status IN (0, 1) AND (owner IS NULL OR lease_expires < @now)
                  AND (capability IS NULL OR capability = ANY(@caps))
                ORDER BY key LIMIT 1
                FOR UPDATE SKIP LOCKED)
            UPDATE actors a SET owner = @silo, lease_expires = @exp, epoch = a.epoch + 1, status = 1
            FROM c WHERE a.key = c.key
            RETURNING a.key, a.kind, a.epoch, a.state
            """);
        cmd.Parameters.AddWithValue("now", now);
        cmd.Parameters.AddWithValue("caps", capabilities.ToArray());
        cmd.Parameters.AddWithValue("silo", silo);
        cmd.Parameters.AddWithValue("exp", expires);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct)) return null;
        return new ActorLease(r.GetString(0), r.GetString(1), r.GetInt64(2), DateTimeOffset.FromUnixTimeMilliseconds(expires), r.GetString(3));
    }

    public async Task<bool> RenewAsync(string key, long epoch, string silo, TimeSpan lease, CancellationToken ct = default)
    {
        long now = Now;
        return await ExecuteAsync(ct,
            "UPDATE actors SET lease_expires = @exp WHERE key = @key AND epoch = @epoch AND owner = @silo AND status = 1 AND lease_expires >= @now",
            ("exp", now + (long)lease.TotalMilliseconds), ("key", key), ("epoch", epoch), ("silo", silo), ("now", now)) == 1;
    }

    public async Task<bool> ReleaseAsync(string key, long epoch, CancellationToken ct = default) =>
        await ExecuteAsync(ct, "UPDATE actors SET owner = NULL, lease_expires = NULL WHERE key = @key AND epoch = @epoch AND owner IS NOT NULL",
            ("key", key), ("epoch", epoch)) == 1;

    public async Task<bool> CommitAsync(string key, long epoch, string state, ActorStatus status, CancellationToken ct = default)
    {
        bool terminal = status is ActorStatus.Done or ActorStatus.Failed or ActorStatus.Cancelled;
        return await ExecuteAsync(ct,
            $"UPDATE actors SET state = @state, status = @status{(terminal ? ", owner = NULL, lease_expires = NULL" : "")} WHERE key = @key AND epoch = @epoch",
            ("state", state), ("status", (int)status), ("key", key), ("epoch", epoch)) == 1;
    }

    public async Task<ActorRecord?> GetAsync(string key, CancellationToken ct = default) =>
        (await QueryActorsAsync("WHERE key = @p", key, ct)).SingleOrDefault();

    public async Task<IReadOnlyList<ActorRecord>> ListAsync(string keyPrefix, CancellationToken ct = default) =>
        await QueryActorsAsync("WHERE left(key, length(@p)) = @p ORDER BY key", keyPrefix, ct);

    async Task<List<ActorRecord>> QueryActorsAsync(string where, string p, CancellationToken ct)
    {
        await using var cmd = _db.CreateCommand($"SELECT key, kind, capability, status, epoch, owner, lease_expires, state FROM actors {where}");
        cmd.Parameters.AddWithValue("p", p);
        var list = new List<ActorRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new ActorRecord(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), (ActorStatus)r.GetInt32(3),
                r.GetInt64(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), r.GetString(7)));
        return list;
    }

    public async Task HeartbeatAsync(string silo, IReadOnlyCollection<string> capabilities, CancellationToken ct = default) =>
        await ExecuteAsync(ct,
            "INSERT INTO silos (id, capabilities, heartbeat) VALUES (@id, @caps, @now) ON CONFLICT (id) DO UPDATE SET capabilities = excluded.capabilities, heartbeat = excluded.heartbeat",
            ("id", silo), ("caps", string.Join(',', capabilities)), ("now", Now));

    public async Task<IReadOnlyList<SiloInfo>> SilosAsync(TimeSpan aliveWithin, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("SELECT id, capabilities, heartbeat FROM silos WHERE heartbeat >= @since ORDER BY id");
        cmd.Parameters.AddWithValue("since", Now - (long)aliveWithin.TotalMilliseconds);
        var list = new List<SiloInfo>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new SiloInfo(r.GetString(0), r.GetString(1).Split(',', StringSplitOptions.RemoveEmptyEntries), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))));
        return list;
    }

    async Task<int> ExecuteAsync(CancellationToken ct, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var cmd = _db.CreateCommand(sql);
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();
}
