using System.Data.Common;

namespace SaeCluster.Grains;

/// <summary>
/// The part of a cluster store that is the same SQL on SQLite and PostgreSQL: the tables, creation,
/// renewal, release, fenced commits, listing and membership. Subclasses open connections and make the
/// one statement that differs, the atomic claim. Times are Unix milliseconds from the injected clock.
/// </summary>
public abstract class SqlClusterStore(TimeProvider? clock) : IClusterStore
{
    readonly TimeProvider _clock = clock ?? TimeProvider.System;

    protected long Now => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    protected const string Tables = """
        CREATE TABLE IF NOT EXISTS actors (
            key TEXT PRIMARY KEY, kind TEXT NOT NULL, capability TEXT, status INTEGER NOT NULL,
            epoch BIGINT NOT NULL, owner TEXT, lease_expires BIGINT, state TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS actors_claimable ON actors (status, lease_expires);
        CREATE TABLE IF NOT EXISTS silos (id TEXT PRIMARY KEY, capabilities TEXT NOT NULL, heartbeat BIGINT NOT NULL);
        """;

    /// <summary>SQL run once by <see cref="InitializeAsync"/>.</summary>
    protected virtual string Schema => Tables;

    protected abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    public abstract Task<IReadOnlyList<ActorLease>> ClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, int max, CancellationToken ct = default);

    public async Task<ActorLease?> TryClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, CancellationToken ct = default) =>
        (await ClaimAsync(silo, capabilities, lease, 1, ct)) is [var one] ? one : null;

    public abstract ValueTask DisposeAsync();

    public virtual async Task InitializeAsync(CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        await ExecuteAsync(c, null, ct, Schema);
    }

    public async Task<bool> CreateActorAsync(string key, string kind, string? capability, string state, CancellationToken ct = default) =>
        await ExecuteAsync(ct, "INSERT INTO actors (key, kind, capability, status, epoch, state) VALUES (@key, @kind, @cap, 0, 0, @state) ON CONFLICT (key) DO NOTHING",
            ("key", key), ("kind", kind), ("cap", capability), ("state", state)) == 1;

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

    public async Task<int> EndAllAsync(string keyPrefix, ActorStatus status, CancellationToken ct = default)
    {
        if (status is not (ActorStatus.Cancelled or ActorStatus.Failed)) throw new ArgumentException($"EndAll ends actors as Cancelled or Failed, not {status}", nameof(status));
        return await ExecuteAsync(ct,
            "UPDATE actors SET status = @status, epoch = epoch + 1, owner = NULL, lease_expires = NULL WHERE substr(key, 1, length(@p)) = @p AND status IN (0, 1)",
            ("status", (int)status), ("p", keyPrefix));
    }

    public async Task<int> DeleteAllAsync(string keyPrefix, CancellationToken ct = default) =>
        await ExecuteAsync(ct, "DELETE FROM actors WHERE substr(key, 1, length(@p)) = @p", ("p", keyPrefix));

    public async Task<ActorRecord?> GetAsync(string key, CancellationToken ct = default) =>
        (await QueryActorsAsync("WHERE key = @p", key, null, ct)).SingleOrDefault();

    public async Task<IReadOnlyList<ActorRecord>> ListAsync(string keyPrefix, string? kind = null, CancellationToken ct = default) =>
        await QueryActorsAsync($"WHERE substr(key, 1, length(@p)) = @p{(kind != null ? " AND kind = @kind" : "")} ORDER BY key", keyPrefix, kind, ct);

    async Task<List<ActorRecord>> QueryActorsAsync(string where, string p, string? kind, CancellationToken ct)
    {
        await using var c = await OpenAsync(ct);
        await using var cmd = Command(c, null, $"SELECT key, kind, capability, status, epoch, owner, lease_expires, state FROM actors {where}",
            kind == null ? [("p", p)] : [("p", p), ("kind", kind)]);
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
        await using var c = await OpenAsync(ct);
        await using var cmd = Command(c, null, "SELECT id, capabilities, heartbeat FROM silos WHERE heartbeat >= @since ORDER BY id",
            ("since", Now - (long)aliveWithin.TotalMilliseconds));
        var list = new List<SiloInfo>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new SiloInfo(r.GetString(0), r.GetString(1).Split(',', StringSplitOptions.RemoveEmptyEntries), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))));
        return list;
    }

    /// <summary>A command with named parameters (written <c>@name</c> in the SQL; null becomes NULL).</summary>
    protected static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    protected static async Task<int> ExecuteAsync(DbConnection c, DbTransaction? tx, CancellationToken ct, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var cmd = Command(c, tx, sql, parameters);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    async Task<int> ExecuteAsync(CancellationToken ct, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var c = await OpenAsync(ct);
        return await ExecuteAsync(c, null, ct, sql, parameters);
    }
}
