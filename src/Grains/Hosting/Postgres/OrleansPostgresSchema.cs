using Npgsql;

namespace SaeCluster.Grains;

/// <summary>
/// Our PostgreSQL schema for the Orleans ADO.NET providers (clustering, grain storage, reminders; invariant
/// <c>"Npgsql"</c>): the tables they use and the query texts they load from <c>OrleansQuery</c>. The NuGet
/// packages ship no SQL, so this is ours (<c>orleans-postgresql.sql</c>, embedded; its header notes the
/// provider contract it implements).
/// </summary>
public static class OrleansPostgresSchema
{
    /// <summary>The ADO.NET invariant the Orleans providers load Npgsql by.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>The advisory lock key that serialises concurrent <see cref="ApplyAsync"/> calls ("SAEORLNS").</summary>
    public const long AdvisoryLockKey = 0x5341_454F_524C_4E53;

    const string ResourceName = "SaeCluster.Grains.Hosting.Postgres.orleans-postgresql.sql";

    static readonly Lazy<string> Script = new(() =>
    {
        using var stream = typeof(OrleansPostgresSchema).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from {typeof(OrleansPostgresSchema).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>The SQL that <see cref="ApplyAsync"/> runs.</summary>
    public static string Sql => Script.Value;

    /// <summary>
    /// Creates the tables and indexes if they are missing and upserts every query text (a newer version of
    /// ours replaces older texts), in one transaction. Idempotent, and safe when several silos apply it at
    /// once: the transaction takes <c>pg_advisory_xact_lock(<see cref="AdvisoryLockKey"/>)</c> first. Errors
    /// (server unreachable, bad credentials, no such database) propagate as Npgsql's exceptions.
    /// </summary>
    public static async Task ApplyAsync(string connectionString, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, tx))
        {
            lockCommand.Parameters.AddWithValue("key", AdvisoryLockKey);
            await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using (var command = new NpgsqlCommand(Sql, connection, tx))
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }
}
