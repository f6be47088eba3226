using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace SaeCluster.Grains;

/// <summary>
/// The embedded cluster store: one SQLite file (WAL), shared by every silo process on the machine.
/// Claims run in BEGIN IMMEDIATE transactions, so two claimers never pick the same actor.
/// </summary>
public sealed class SqliteClusterStore(string path, TimeProvider? clock = null) : SqlClusterStore(clock)
{
    readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30,
    }.ToString();

    protected override string Schema => "PRAGMA journal_mode = WAL;\n" + Tables;

    public override Task InitializeAsync(CancellationToken ct = default)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        return base.InitializeAsync(ct);
    }

    protected override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var c = new SqliteConnection(_connectionString);
        await c.OpenAsync(ct);
        await ExecuteAsync(c, null, ct, "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;");
        return c;
    }

    public override async Task<IReadOnlyList<ActorLease>> ClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, int max, CancellationToken ct = default)
    {
        await using var c = (SqliteConnection)await OpenAsync(ct);
        await using var tx = c.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: one writer at a time
        long now = Now;
        var caps = capabilities.ToArray();
        string capFilter = caps.Length == 0 ? "capability IS NULL"
            : $"(capability IS NULL OR capability IN ({string.Join(", ", caps.Select((_, i) => $"@c{i}"))}))";
        var parameters = caps.Select((cap, i) => ($"c{i}", (object?)cap)).Append(("now", now)).Append(("max", max)).ToArray();
        var found = new List<(string Key, string Kind, long Epoch, string State)>();
        await using (var find = Command(c, tx, $"""
            SELECT key, kind, epoch, state FROM actors
            WHERE status IN (0, 1) AND (owner IS NULL OR lease_expires < @now) AND {capFilter}
            ORDER BY key LIMIT @max
            """, parameters))
        await using (var r = await find.ExecuteReaderAsync(ct))
            while (await r.ReadAsync(ct)) found.Add((r.GetString(0), r.GetString(1), r.GetInt64(2) + 1, r.GetString(3)));
        if (found.Count == 0) return [];
        long expires = now + (long)lease.TotalMilliseconds;
        foreach (var (key, _, epoch, _) in found)
            await ExecuteAsync(c, tx, ct, "UPDATE actors SET owner = @silo, lease_expires = @exp, epoch = @epoch, status = 1 WHERE key = @key",
                ("silo", silo), ("exp", expires), ("epoch", epoch), ("key", key));
        await tx.CommitAsync(ct);
        return found.Select(f => new ActorLease(f.Key, f.Kind, f.Epoch, DateTimeOffset.FromUnixTimeMilliseconds(expires), f.State)).ToArray();
    }

    public override ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }
}
