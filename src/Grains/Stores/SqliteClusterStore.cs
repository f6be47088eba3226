using Microsoft.Data.Sqlite;

namespace SaeCluster.Grains;

/// <summary>
/// The embedded cluster store: one SQLite file (WAL), shared by every silo process on the machine.
/// Claims run in BEGIN IMMEDIATE transactions, so two claimers never pick the same actor.
/// Times are stored as Unix milliseconds from the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class SqliteClusterStore(string path, TimeProvider? clock = null) : IClusterStore
{
    readonly TimeProvider _clock = clock ?? TimeProvider.System;
    readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30,
    }.ToString();

    long Now => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var c = new SqliteConnection(_connectionString);
        await c.OpenAsync(ct);
        using var pragma = c.CreateCommand();
        pragma.CommandText = "PRAGMA busy_timeout = 10000;";
        await pragma.ExecuteNonQueryAsync(ct);
        return c;
    }

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        await using var c = await OpenAsync(ct);
        await ExecuteAsync(c, null, ct, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS actors (
                key TEXT PRIMARY KEY, kind TEXT NOT NULL, capability TEXT, status INTEGER NOT NULL,
                epoch INTEGER NOT NULL, owner TEXT, lease_expires INTEGER, state TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS actors_claimable ON actors (status, lease_expires);
            CREATE TABLE IF NOT EXISTS silos (id TEXT PRIMARY KEY, capabilities TEXT NOT NULL, heartbeat INTEGER NOT NULL);
            """);
    }

    public async Task<bool> CreateActorAsync(string key, string kind, string? capability, string state, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        return await ExecuteAsync(c, null, ct,
            "INSERT INTO actors (key, kind, capability, status, epoch, state) VALUES ($key, $kind, $cap, 0, 0, $state) ON CONFLICT (key) DO NOTHING",
            ("$key", key), ("$kind", kind), ("$cap", capability), ("$state", state)) == 1;
    }

    public async Task<ActorLease?> TryClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        await using var tx = c.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: one writer at a time
        long now = Now;
        using var find = c.CreateCommand();
        find.Transaction = tx;
        var caps = capabilities.ToArray();
        string capFilter = caps.Length == 0 ? "capability IS NULL"
            : $"(capability IS NULL OR capability IN ({string.Join(", ", caps.Select((_, i) => $"$c{i}"))}))";
        find.CommandText = $"""
            SELECT key, kind, epoch, state FROM actors
            WHERE status IN (0, 1) AND (owner IS NULL OR lease_expires < $now) AND {capFilter}
            ORDER BY key LIMIT 1
            """;
        find.Parameters.AddWithValue("$now", now);
        for (int i = 0; i < caps.Length; i++) find.Parameters.AddWithValue($"$c{i}", caps[i]);
        string key, kind, state; long epoch;
        await using (var r = await find.ExecuteReaderAsync(ct))
        {
            if (!await r.ReadAsync(ct)) return null;
            key = r.GetString(0); kind = r.GetString(1); epoch = r.GetInt64(2) + 1; state = r.GetString(3);
        }
        long expires = now + (long)lease.TotalMilliseconds;
        await ExecuteAsync(c, tx, ct, "UPDATE actors SET owner = $silo, lease_expires = $exp, epoch = $epoch, status = 1 WHERE key = $key",
            ("$silo", silo), ("$exp", expires), ("$epoch", epoch), ("$key", key));
        await tx.CommitAsync(ct);
        return new ActorLease(key, kind, epoch, DateTimeOffset.FromUnixTimeMilliseconds(expires), state);
    }

    public async Task<bool> RenewAsync(string key, long epoch, string silo, TimeSpan lease, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        long now = Now;
        return await ExecuteAsync(c, null, ct,
            "UPDATE actors SET lease_expires = $exp WHERE key = $key AND epoch = $epoch AND owner = $silo AND status = 1 AND lease_expires >= $now",
            ("$exp", now + (long)lease.TotalMilliseconds), ("$key", key), ("$epoch", epoch), ("$silo", silo), ("$now", now)) == 1;
    }

    public async Task<bool> ReleaseAsync(string key, long epoch, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        return await ExecuteAsync(c, null, ct,
            "UPDATE actors SET owner = NULL, lease_expires = NULL WHERE key = $key AND epoch = $epoch AND owner IS NOT NULL",
            ("$key", key), ("$epoch", epoch)) == 1;
    }

    public async Task<bool> CommitAsync(string key, long epoch, string state, ActorStatus status, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        bool terminal = status is ActorStatus.Done or ActorStatus.Failed or ActorStatus.Cancelled;
        return await ExecuteAsync(c, null, ct,
            $"UPDATE actors SET state = $state, status = $status{(terminal ? ", owner = NULL, lease_expires = NULL" : "")} WHERE key = $key AND epoch = $epoch",
            ("$state", state), ("$status", (int)status), ("$key", key), ("$epoch", epoch)) == 1;
    }

    public async Task<ActorRecord?> GetAsync(string key, CancellationToken ct = default) =>
        (await QueryActorsAsync("WHERE key = $p", key, ct)).SingleOrDefault();

    public async Task<IReadOnlyList<ActorRecord>> ListAsync(string keyPrefix, CancellationToken ct = default) =>
        await QueryActorsAsync("WHERE substr(key, 1, length($p)) = $p ORDER BY key", keyPrefix, ct);

    async Task<List<ActorRecord>> QueryActorsAsync(string where, string p, CancellationToken ct)
    {
        await using var c = await OpenAsync(ct);
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"SELECT key, kind, capability, status, epoch, owner, lease_expires, state FROM actors {where}";
        cmd.Parameters.AddWithValue("$p", p);
        var list = new List<ActorRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new ActorRecord(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), (ActorStatus)r.GetInt32(3),
                r.GetInt64(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), r.GetString(7)));
        return list;
    }

    public async Task HeartbeatAsync(string silo, IReadOnlyCollection<string> capabilities, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        await ExecuteAsync(c, null, ct,
            "INSERT INTO silos (id, capabilities, heartbeat) VALUES ($id, $caps, $now) ON CONFLICT (id) DO UPDATE SET capabilities = excluded.capabilities, heartbeat = excluded.heartbeat",
            ("$id", silo), ("$caps", string.Join(',', capabilities)), ("$now", Now));
    }

    public async Task<IReadOnlyList<SiloInfo>> SilosAsync(TimeSpan aliveWithin, CancellationToken ct = default)
    {
        await using var c = await OpenAsync(ct);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, capabilities, heartbeat FROM silos WHERE heartbeat >= $since ORDER BY id";
        cmd.Parameters.AddWithValue("$since", Now - (long)aliveWithin.TotalMilliseconds);
        var list = new List<SiloInfo>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            list.Add(new SiloInfo(r.GetString(0), r.GetString(1).Split(',', StringSplitOptions.RemoveEmptyEntries), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))));
        return list;
    }

    static async Task<int> ExecuteAsync(SqliteConnection c, SqliteTransaction? tx, CancellationToken ct, string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }
}
