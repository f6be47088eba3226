using System.Globalization;
using SaeCluster.Grains;

namespace SaeCluster.Silo;

/// <summary>A setting the user got wrong (flag or environment variable): one line, exit code 2.</summary>
public sealed class SiloUsageException(string message) : Exception(message);

/// <summary>
/// The silo's configuration: command-line flags (<c>--name value</c> or <c>--name=value</c>) over
/// environment variables (SAECLUSTER_*) over defaults.
/// </summary>
public sealed record SiloSettings
{
    public const string DefaultCluster = "sqlite:runs/.cluster/cluster.db";
    public const string DefaultBlobs = "runs";
    public const string DefaultContainer = "saecluster";
    public const string DefaultSlots = "coordinator=2,producer=1,trainer=2";
    public const string DefaultUrls = "http://127.0.0.1:5080";

    /// <summary>Flag → (environment variable, help).</summary>
    public static readonly IReadOnlyList<(string Flag, string Env, string Help)> Flags =
    [
        ("--cluster", "SAECLUSTER_CLUSTER", $"cluster store: sqlite:PATH, PATH.db, Host=…;Database=… or postgres://user:pw@host/db (default {DefaultCluster})"),
        ("--blobs", "SAECLUSTER_BLOBS", $"blob store: a folder, file: URI or Azure connection string (default {DefaultBlobs})"),
        ("--container", "SAECLUSTER_CONTAINER", $"Azure container (default {DefaultContainer}); for a folder store, a subfolder only when given"),
        ("--slots", "SAECLUSTER_SLOTS", $"actors run at once per kind, or 'none' for an API-only silo (default {DefaultSlots})"),
        ("--id", "SAECLUSTER_SILO_ID", "silo id in the membership table (default hostname-pid)"),
        ("--work-dir", "SAECLUSTER_WORK_DIR", "where activations keep temporary files (default a folder under the temp folder)"),
        ("--lease-seconds", "SAECLUSTER_LEASE_SECONDS", "actor lease length, renewed every third of it (default 30)"),
        ("--grace-seconds", "SAECLUSTER_GRACE_SECONDS", "how long shutdown waits for activations to checkpoint (default 60)"),
        ("--wait-seconds", "SAECLUSTER_WAIT_SECONDS", "how long start-up keeps retrying stores that do not answer yet (default 0: fail at once)"),
        ("--urls", "SAECLUSTER_URLS", $"where the HTTP API listens, ';'-separated (default {DefaultUrls}; ASPNETCORE_URLS also works)"),
        ("--token", "SAECLUSTER_TOKEN", "bearer token every /api request must carry (default none: open API)"),
        ("--data-root", "SAECLUSTER_DATA_ROOT", "folder that relative paths in submitted sweeps resolve against (default the current folder)"),
    ];

    public required string Cluster { get; init; }
    public required string Blobs { get; init; }
    /// <summary>The container to pass to the blob store: always for Azure, for a folder only when set explicitly.</summary>
    public required string? Container { get; init; }
    /// <summary>Null for an API-only silo (runs no actors).</summary>
    public required IReadOnlyDictionary<string, int>? Slots { get; init; }
    public required string Id { get; init; }
    public required string WorkDirectory { get; init; }
    public required TimeSpan Lease { get; init; }
    public required TimeSpan Grace { get; init; }
    /// <summary>How long start-up retries an unreachable cluster or blob store (a database still starting next to the silo).</summary>
    public TimeSpan StoreWait { get; init; }
    public required string[] Urls { get; init; }
    public required string? Token { get; init; }
    public required string DataRoot { get; init; }
    public bool Help { get; init; }

    public static SiloSettings Parse(IReadOnlyList<string> args, Func<string, string?> env)
    {
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        bool help = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a is "-h" or "--help" or "-?") { help = true; continue; }
            string name = a, value;
            int eq = a.IndexOf('=');
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0) { name = a[..eq]; value = a[(eq + 1)..]; }
            else
            {
                if (!Flags.Any(f => f.Flag == name)) throw new SiloUsageException($"unknown argument '{a}' (see --help)");
                if (i + 1 >= args.Count) throw new SiloUsageException($"{name} needs a value");
                value = args[++i];
            }
            if (!Flags.Any(f => f.Flag == name)) throw new SiloUsageException($"unknown option '{name}' (see --help)");
            flags[name] = value;
        }

        string? Get(string flag)
        {
            if (flags.TryGetValue(flag, out var v)) return v;
            string e = Flags.First(f => f.Flag == flag).Env;
            string? fromEnv = env(e);
            return string.IsNullOrEmpty(fromEnv) ? null : fromEnv;
        }

        string id = Get("--id") ?? $"{Environment.MachineName}-{Environment.ProcessId}".ToLowerInvariant();
        if (id.Trim().Length == 0) throw new SiloUsageException("--id must not be empty");

        IReadOnlyDictionary<string, int>? slots;
        string slotSpec = Get("--slots") ?? DefaultSlots;
        if (slotSpec.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) slots = null;
        else
        {
            try { slots = SiloOptions.ParseSlots(slotSpec); }
            catch (ArgumentException e) { throw new SiloUsageException($"{e.Message} (use --slots none for an API-only silo)"); }
        }

        string blobs = Get("--blobs") ?? DefaultBlobs;
        string? container = Get("--container");
        if (container == null && AzureConnectionString.LooksLikeConnectionString(blobs)) container = DefaultContainer;

        string urls = Get("--urls") ?? (string.IsNullOrEmpty(env("ASPNETCORE_URLS")) ? DefaultUrls : env("ASPNETCORE_URLS")!);
        string? token = Get("--token");
        if (token != null && token.Trim().Length == 0) token = null;
        string dataRoot = Path.GetFullPath(Get("--data-root") ?? Environment.CurrentDirectory);
        if (!Directory.Exists(dataRoot)) throw new SiloUsageException($"--data-root: {dataRoot}: no such folder");

        return new SiloSettings
        {
            Cluster = Get("--cluster") ?? DefaultCluster,
            Blobs = blobs,
            Container = container,
            Slots = slots,
            Id = id,
            WorkDirectory = Path.GetFullPath(Get("--work-dir") ?? Path.Combine(Path.GetTempPath(), "saecluster-silo", Sanitize(id))),
            Lease = Seconds("--lease-seconds", Get("--lease-seconds"), 30, min: 0.3),
            Grace = Seconds("--grace-seconds", Get("--grace-seconds"), 60, min: 0),
            StoreWait = Seconds("--wait-seconds", Get("--wait-seconds"), 0, min: 0),
            Urls = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Token = token,
            DataRoot = dataRoot,
            Help = help,
        };
    }

    static TimeSpan Seconds(string flag, string? value, double fallback, double min)
    {
        if (value == null) return TimeSpan.FromSeconds(fallback);
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !double.IsFinite(s) || s < min)
            throw new SiloUsageException($"{flag}: '{value}' is not a number of seconds ≥ {min.ToString(CultureInfo.InvariantCulture)}");
        return TimeSpan.FromSeconds(s);
    }

    static string Sanitize(string id) => string.Concat(id.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_'));

    public SiloOptions? RuntimeOptions() =>
        Slots == null ? null : new SiloOptions(Id, Slots, WorkDirectory, lease: Lease, shutdownGrace: Grace);

    public static string Usage()
    {
        var b = new System.Text.StringBuilder("saecluster-silo — runs SaeCluster actors and serves the HTTP API\n\nOptions (flags win over environment variables):\n");
        foreach (var (flag, e, help) in Flags) b.Append($"  {flag,-16} {e,-26} {help}\n");
        b.Append("\nEndpoints: /healthz, /api/sweeps[/{id}[/cancel|/actors]], /api/silos, /api/silo\n");
        return b.ToString();
    }
}
