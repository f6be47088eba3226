using System.Text.RegularExpressions;
using Npgsql;

namespace SaeCluster.Grains;

/// <summary>Opens the cluster store a configuration names (the silo's <c>--cluster</c>, SAECLUSTER_CLUSTER).</summary>
public static partial class ClusterStores
{
    /// <summary>
    /// <c>sqlite:PATH</c> (also <c>sqlite:///abs/path</c>) or a path ending in <c>.db</c> gives a
    /// <see cref="SqliteClusterStore"/>; a PostgreSQL connection string (one with <c>Host=</c>) or a
    /// <c>postgres://user:password@host:port/database?sslmode=…</c> URI gives a <see cref="PostgresClusterStore"/>.
    /// Anything else is an <see cref="ArgumentException"/> naming the value (passwords masked). The store is
    /// not initialised (call <see cref="IClusterStore.InitializeAsync"/>).
    /// </summary>
    public static IClusterStore Open(string location, TimeProvider? clock = null) => Parse(location) switch
    {
        (Kind.Sqlite, var path) => new SqliteClusterStore(path, clock),
        (_, var cs) => new PostgresClusterStore(cs, clock),
    };

    public enum Kind { Sqlite, Postgres }

    /// <summary>What <see cref="Open"/> would open: the SQLite file path or the Npgsql connection string.</summary>
    public static (Kind Kind, string Target) Parse(string location)
    {
        if (string.IsNullOrWhiteSpace(location))
            throw new ArgumentException("cluster store location is empty: give sqlite:PATH, a path ending in .db, a PostgreSQL connection string (Host=…) or a postgres:// URI");
        string s = location.Trim();
        if (s.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            string path = s["sqlite:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal)) path = path[2..]; // sqlite:///abs/path
            if (path.Length == 0) throw new ArgumentException($"cluster store '{s}' names no file (sqlite:PATH)");
            return (Kind.Sqlite, path);
        }
        if (s.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || s.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return (Kind.Postgres, FromUri(s));
        if (HostKey().IsMatch(s))
        {
            try { return (Kind.Postgres, new NpgsqlConnectionStringBuilder(s).ConnectionString); }
            catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
            {
                throw new ArgumentException($"cluster store '{Mask(s)}' is not a valid PostgreSQL connection string ({Mask(e.Message)})");
            }
        }
        if (!s.Contains("://", StringComparison.Ordinal) && !s.Contains('=') && s.EndsWith(".db", StringComparison.OrdinalIgnoreCase))
            return (Kind.Sqlite, s);
        throw new ArgumentException($"cluster store '{Mask(s)}' is neither sqlite:PATH, a path ending in .db, a PostgreSQL connection string (Host=…;Database=…) nor a postgres:// URI");
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
            throw new ArgumentException($"cluster store '{Mask(s)}' is not a valid postgres:// URI ({Mask(e.Message)})");
        }
        if (string.IsNullOrEmpty(b.Host)) throw new ArgumentException($"cluster store '{Mask(s)}' names no host (postgres://user@HOST/db, or ?host=/socket/dir)");
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
