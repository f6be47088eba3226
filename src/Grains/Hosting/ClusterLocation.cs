using System.Text.RegularExpressions;
using Npgsql;

namespace SaeCluster.Grains;

/// <summary>
/// Where a cluster keeps its membership, grain state and reminders (the silo's <c>--cluster</c>,
/// SAECLUSTER_CLUSTER): a PostgreSQL database (a connection string with <c>Host=</c>, or a
/// <c>postgres://user:password@host:port/database?sslmode=…</c> URI) for a cluster of many silos, or a
/// folder for a single silo on this machine (Orleans' file grain storage there, localhost clustering,
/// in-memory reminders).
/// </summary>
public sealed partial record ClusterLocation
{
    /// <summary>The Npgsql connection string, for a PostgreSQL cluster.</summary>
    public string? PostgresConnectionString { get; }

    /// <summary>The folder, for a single-silo cluster.</summary>
    public string? Folder { get; }

    public bool IsPostgres => PostgresConnectionString != null;

    /// <summary>For messages and logs: the folder, or the connection string with its password masked.</summary>
    public string Display { get; }

    ClusterLocation(string? postgres, string? folder, string display)
    {
        PostgresConnectionString = postgres;
        Folder = folder;
        Display = display;
    }

    public static ClusterLocation Postgres(string connectionString, string? display = null) => new(connectionString, null, Mask(display ?? connectionString));

    public static ClusterLocation Local(string folder) => new(null, Path.GetFullPath(folder), Path.GetFullPath(folder));

    /// <summary>
    /// Parses a location; anything that is neither a PostgreSQL connection string, a postgres:// URI nor a
    /// folder path is an <see cref="ArgumentException"/> naming the value (passwords masked).
    /// </summary>
    public static ClusterLocation Parse(string location)
    {
        if (string.IsNullOrWhiteSpace(location))
            throw new ArgumentException("cluster location is empty: give a folder (one silo on this machine), a PostgreSQL connection string (Host=…) or a postgres:// URI");
        string s = location.Trim();
        if (s.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase) || s.EndsWith(".db", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"cluster location '{s}': SQLite cluster stores are gone; give a folder for one silo on this machine, or PostgreSQL (Host=…;Database=… or postgres://…) for many");
        if (s.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return Postgres(FromUri(s), s);
        if (HostKey().IsMatch(s))
        {
            try { return Postgres(new NpgsqlConnectionStringBuilder(s).ConnectionString, s); }
            catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
            {
                throw new ArgumentException($"cluster location '{Mask(s)}' is not a valid PostgreSQL connection string ({Mask(e.Message)})");
            }
        }
        if (s.Contains("://", StringComparison.Ordinal) || s.Contains('=') || s.Contains(';'))
            throw new ArgumentException($"cluster location '{Mask(s)}' is neither a folder, a PostgreSQL connection string (Host=…;Database=…) nor a postgres:// URI");
        if (File.Exists(s)) throw new ArgumentException($"cluster location '{s}' is a file; give a folder (it is created if missing)");
        return Local(s);
    }

    // postgres://user:password@host:port/database?sslmode=require&application_name=x, as libpq reads it;
    // the host may be left out and given as ?host=/socket/dir (postgresql:///db?host=/run/postgresql)
    static string FromUri(string s)
    {
        string rest = s[(s.IndexOf("://", StringComparison.Ordinal) + 3)..];
        string query = "";
        int q = rest.IndexOf('?');
        if (q >= 0) { query = rest[(q + 1)..]; rest = rest[..q]; }
        string db = "";
        int slash = rest.IndexOf('/');
        if (slash >= 0) { db = rest[(slash + 1)..]; rest = rest[..slash]; }
        string userInfo = "";
        int at = rest.LastIndexOf('@');
        if (at >= 0) { userInfo = rest[..at]; rest = rest[(at + 1)..]; }
        string host = rest, port = "";
        int colon = rest.StartsWith('[') ? rest.IndexOf("]:", StringComparison.Ordinal) + 1 : rest.LastIndexOf(':');
        if (colon > 0) { host = rest[..colon]; port = rest[(colon + 1)..]; }
        host = host.Trim('[', ']');

        var b = new NpgsqlConnectionStringBuilder();
        try
        {
            if (host.Length > 0) b.Host = Uri.UnescapeDataString(host);
            if (port.Length > 0) b.Port = int.Parse(port, System.Globalization.CultureInfo.InvariantCulture);
            if (userInfo.Length > 0)
            {
                var parts = userInfo.Split(':', 2);
                b.Username = Uri.UnescapeDataString(parts[0]);
                if (parts.Length == 2) b.Password = Uri.UnescapeDataString(parts[1]);
            }
            if (db.Length > 0) b.Database = Uri.UnescapeDataString(db);
            foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split('=', 2);
                string key = Uri.UnescapeDataString(kv[0]), value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1].Replace('+', ' ')) : "";
                switch (key.ToLowerInvariant())
                {
                    case "sslmode": b.SslMode = Enum.Parse<SslMode>(value.Replace("-", ""), ignoreCase: true); break;
                    case "connect_timeout": b.Timeout = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "application_name": b.ApplicationName = value; break;
                    case "user": b.Username = value; break;
                    case "password": b.Password = value; break;
                    case "dbname": b.Database = value; break;
                    default: b[key] = value; break; // Npgsql's own keys (host, port, pooling, …)
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException or OverflowException)
        {
            throw new ArgumentException($"cluster location '{Mask(s)}' is not a valid postgres:// URI ({Mask(e.Message)})");
        }
        if (string.IsNullOrEmpty(b.Host)) throw new ArgumentException($"cluster location '{Mask(s)}' names no host (postgres://user@HOST/db, or ?host=/socket/dir)");
        return b.ConnectionString;
    }

    /// <summary>The location with any password replaced by ***, for messages and logs.</summary>
    public static string Mask(string location)
    {
        string s = UriPassword().Replace(location, "$1***@");
        return PasswordKey().Replace(s, m => m.Groups[1].Value + "=***");
    }

    [GeneratedRegex(@"(?:^|;)\s*(?:host|server)\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex HostKey();

    [GeneratedRegex(@"(\b(?:password|pwd)\s*)=\s*(?:'[^']*'|""[^""]*""|[^;&]*)", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordKey();

    [GeneratedRegex(@"(://[^:/@\s]*:)[^@/\s]*@")]
    private static partial Regex UriPassword();
}
