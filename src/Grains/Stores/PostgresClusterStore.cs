using System.Data.Common;
using Npgsql;

namespace SaeCluster.Grains;

/// <summary>
/// The cluster store on PostgreSQL: claims are one statement with <c>FOR UPDATE SKIP LOCKED</c>, so many
/// silos claim in parallel without blocking on each other.
/// </summary>
public sealed class PostgresClusterStore(string connectionString, TimeProvider? clock = null) : SqlClusterStore(clock)
{
    readonly NpgsqlDataSource _db = NpgsqlDataSource.Create(connectionString);

    protected override async Task<DbConnection> OpenAsync(CancellationToken ct) => await _db.OpenConnectionAsync(ct);

    public override async Task<IReadOnlyList<ActorLease>> ClaimAsync(string silo, IReadOnlyCollection<string> capabilities, TimeSpan lease, int max, CancellationToken ct = default)
    {
        long now = Now, expires = now + (long)lease.TotalMilliseconds;
        await using var c = await OpenAsync(ct);
        await using var cmd = Command(c, null, """
            WITH c AS (
                SELECT key FROM actors
                WHERE status IN (0, 1) AND (owner IS NULL OR lease_expires < @now)
                  AND (capability IS NULL OR capability = ANY(@caps))
                ORDER BY key LIMIT @max
                FOR UPDATE SKIP LOCKED)
            UPDATE actors a SET owner = @silo, lease_expires = @exp, epoch = a.epoch + 1, status = 1
            FROM c WHERE a.key = c.key
            RETURNING a.key, a.kind, a.epoch, a.state
            """, ("now", now), ("caps", capabilities.ToArray()), ("silo", silo), ("exp", expires), ("max", max));
        var leases = new List<ActorLease>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            leases.Add(new ActorLease(r.GetString(0), r.GetString(1), r.GetInt64(2), DateTimeOffset.FromUnixTimeMilliseconds(expires), r.GetString(3)));
        return leases.OrderBy(l => l.Key, StringComparer.Ordinal).ToArray();
    }

    public override ValueTask DisposeAsync() => _db.DisposeAsync();
}
