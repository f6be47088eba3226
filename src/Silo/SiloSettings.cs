using System.Globalization;
using System.Net;
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
    public const string DefaultCluster = "runs/.cluster";
    public const string DefaultBlobs = "runs";
    public const string DefaultContainer = "saecluster";
    public const string DefaultUrls = "http://127.0.0.1:5080";

    /// <summary>Flag → (environment variable, help).</summary>
    public static readonly IReadOnlyList<(string Flag, string Env, string Help)> Flags =
    [
        ("--cluster", "SAECLUSTER_CLUSTER", $"where the cluster keeps membership, grain state and reminders: a folder (one silo on this machine) or PostgreSQL, Host=…;Database=… or postgres://user:pw@host/db (default {DefaultCluster})"),
        ("--blobs", "SAECLUSTER_BLOBS", $"blob store: a folder, file: URI or Azure connection string (default {DefaultBlobs})"),
        ("--container", "SAECLUSTER_CONTAINER", $"Azure container (default {DefaultContainer}); for a folder store, a subfolder only when given"),
        ("--role", "SAECLUSTER_ROLE", "what this silo runs: coordinator,producer,trainer (any of them; default all), or api for an API-only Orleans client"),
        ("--slots", "SAECLUSTER_SLOTS", $"how many producers and trainers run at once here (default producer={WorkOptions.DefaultProducerSlots},trainer={WorkOptions.DefaultTrainerSlots})"),
        ("--metadata", "SAECLUSTER_METADATA", "extra silo metadata, k=v,… (e.g. gpu=true)"),
        ("--id", "SAECLUSTER_SILO_ID", "silo name in the membership (default hostname-pid; the pod name in Kubernetes)"),
        ("--service-id", "SAECLUSTER_SERVICE_ID", "Orleans ServiceId: grain state and reminders are keyed by it (default saecluster)"),
        ("--cluster-id", "SAECLUSTER_CLUSTER_ID", "Orleans ClusterId: silos with the same one form a cluster (default saecluster)"),
        ("--silo-port", "SAECLUSTER_SILO_PORT", "port silos talk to each other on (default 11111)"),
        ("--gateway-port", "SAECLUSTER_GATEWAY_PORT", "port Orleans clients (API-only processes) connect to (default 30000)"),
        ("--advertise", "SAECLUSTER_ADVERTISE", "IP address other silos reach this one at (default 127.0.0.1; the pod IP in Kubernetes)"),
        ("--probe-seconds", "SAECLUSTER_PROBE_SECONDS", "membership probe timeout (default 5)"),
        ("--missed-probes", "SAECLUSTER_MISSED_PROBES", "missed probes before a silo is declared dead and its work resumes elsewhere (default 3)"),
        ("--death-votes", "SAECLUSTER_DEATH_VOTES", "other silos' suspicions that declare a silo dead (default 2; 1 for a cluster of two silos)"),
        ("--reminder-seconds", "SAECLUSTER_REMINDER_SECONDS", "period of the reminder that brings a sweep back after its silo is lost (default 60)"),
        ("--work-dir", "SAECLUSTER_WORK_DIR", "where running work keeps temporary files (default a folder under the temp folder)"),
        ("--grace-seconds", "SAECLUSTER_GRACE_SECONDS", "how long shutdown waits for running work to checkpoint (default 60)"),
        ("--wait-seconds", "SAECLUSTER_WAIT_SECONDS", "how long start-up keeps retrying stores (and, with --role api, gateways) that do not answer yet (default 0: fail at once)"),
        ("--urls", "SAECLUSTER_URLS", $"where the HTTP API listens, ';'-separated (default {DefaultUrls}; ASPNETCORE_URLS also works)"),
        ("--token", "SAECLUSTER_TOKEN", "bearer token every /api and /dashboard request must carry (default none: open API)"),
        ("--data-root", "SAECLUSTER_DATA_ROOT", "folder that relative paths in submitted sweeps resolve against (default the current folder)"),
    ];

    public required string Cluster { get; init; }
    public required ClusterLocation Location { get; init; }
    public required string Blobs { get; init; }
    /// <summary>The container to pass to the blob store: always for Azure, for a folder only when set explicitly.</summary>
    public required string? Container { get; init; }
    public required IReadOnlyList<string> Roles { get; init; }
    public required IReadOnlyDictionary<string, int> Slots { get; init; }
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }
    public required string Id { get; init; }
    public required string ServiceId { get; init; }
    public required string ClusterId { get; init; }
    public required int SiloPort { get; init; }
    public required int GatewayPort { get; init; }
    public required IPAddress? Advertise { get; init; }
    public required TimeSpan ProbeTimeout { get; init; }
    public required int MissedProbes { get; init; }
    public required int DeathVotes { get; init; }
    public required TimeSpan ReminderPeriod { get; init; }
    public required string WorkDirectory { get; init; }
    public required TimeSpan Grace { get; init; }
    /// <summary>How long start-up retries an unreachable cluster or blob store (a database still starting next to the silo).</summary>
    public TimeSpan StoreWait { get; init; }
    public required string[] Urls { get; init; }
    public required string? Token { get; init; }
    public required string DataRoot { get; init; }
    /// <summary>Running in a Kubernetes pod (POD_NAME and POD_NAMESPACE set): name, address and ids come from the pod.</summary>
    public bool Kubernetes { get; init; }
    public bool Help { get; init; }

    public bool ApiOnly => Roles is [SiloRoles.Api];

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

        T Checked<T>(Func<T> parse)
        {
            try { return parse(); }
            catch (ArgumentException e) { throw new SiloUsageException(e.Message); }
        }

        bool kubernetes = !string.IsNullOrEmpty(env("POD_NAME")) && !string.IsNullOrEmpty(env("POD_NAMESPACE"));
        string id = Get("--id") ?? (kubernetes ? env("POD_NAME")! : $"{Environment.MachineName}-{Environment.ProcessId}".ToLowerInvariant());
        if (id.Trim().Length == 0) throw new SiloUsageException("--id must not be empty");

        string cluster = Get("--cluster") ?? DefaultCluster;
        var location = Checked(() => ClusterLocation.Parse(cluster));
        var roles = Checked(() => SiloRoles.Parse(Get("--role")));
        string? slotSpec = Get("--slots");
        if (slotSpec?.Trim().Equals("none", StringComparison.OrdinalIgnoreCase) == true)
            throw new SiloUsageException("--slots none: an API-only process is --role api now");
        var slots = Checked(() => WorkOptions.ParseSlots(slotSpec ?? ""));
        var metadata = Checked(() => ParseMetadata(Get("--metadata")));

        string blobs = Get("--blobs") ?? DefaultBlobs;
        string? container = Get("--container");
        if (container == null && BlobStores.IsAzureConnectionString(blobs)) container = DefaultContainer;

        string urls = Get("--urls") ?? (string.IsNullOrEmpty(env("ASPNETCORE_URLS")) ? DefaultUrls : env("ASPNETCORE_URLS")!);
        string? token = Get("--token");
        if (token != null && token.Trim().Length == 0) token = null;
        string dataRoot = Path.GetFullPath(Get("--data-root") ?? Environment.CurrentDirectory);
        if (!Directory.Exists(dataRoot)) throw new SiloUsageException($"--data-root: {dataRoot}: no such folder");
        IPAddress? advertise = null;
        if (Get("--advertise") is { } ip && !IPAddress.TryParse(ip, out advertise)) throw new SiloUsageException($"--advertise: '{ip}' is not an IP address");

        return new SiloSettings
        {
            Cluster = cluster,
            Location = location,
            Blobs = blobs,
            Container = container,
            Roles = roles,
            Slots = slots,
            Metadata = metadata,
            Id = id,
            ServiceId = Get("--service-id") ?? "saecluster",
            ClusterId = Get("--cluster-id") ?? "saecluster",
            SiloPort = Integer("--silo-port", Get("--silo-port"), 11111, 1, 65535, "a port (1–65535)"),
            GatewayPort = Integer("--gateway-port", Get("--gateway-port"), 30000, 1, 65535, "a port (1–65535)"),
            Advertise = advertise,
            ProbeTimeout = Seconds("--probe-seconds", Get("--probe-seconds"), 5, min: 0.5),
            MissedProbes = Integer("--missed-probes", Get("--missed-probes"), 3, 1, 100, "a count ≥ 1"),
            DeathVotes = Integer("--death-votes", Get("--death-votes"), 2, 1, 100, "a count ≥ 1"),
            ReminderPeriod = Seconds("--reminder-seconds", Get("--reminder-seconds"), 60, min: 1),
            WorkDirectory = Path.GetFullPath(Get("--work-dir") ?? Path.Combine(Path.GetTempPath(), "saecluster-silo", WorkOptions.FolderName(id))),
            Grace = Seconds("--grace-seconds", Get("--grace-seconds"), 60, min: 0),
            StoreWait = Seconds("--wait-seconds", Get("--wait-seconds"), 0, min: 0),
            Urls = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Token = token,
            DataRoot = dataRoot,
            Kubernetes = kubernetes,
            Help = help,
        };
    }

    static Dictionary<string, string> ParseMetadata(string? spec)
    {
        var m = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in (spec ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2 || kv[0].Length == 0) throw new ArgumentException($"--metadata: '{part}' is not key=value");
            if (kv[0] is SiloRoles.RoleKey or SiloRoles.SlotsKey) throw new ArgumentException($"--metadata: '{kv[0]}' is set by --{(kv[0] == SiloRoles.RoleKey ? "role" : "slots")}");
            m[kv[0]] = kv[1];
        }
        return m;
    }

    static TimeSpan Seconds(string flag, string? value, double fallback, double min)
    {
        if (value == null) return TimeSpan.FromSeconds(fallback);
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !double.IsFinite(s) || s < min)
            throw new SiloUsageException($"{flag}: '{value}' is not a number of seconds ≥ {min.ToString(CultureInfo.InvariantCulture)}");
        return TimeSpan.FromSeconds(s);
    }

    static int Integer(string flag, string? value, int fallback, int min, int max, string what)
    {
        if (value == null) return fallback;
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
            throw new SiloUsageException($"{flag}: '{value}' is not {what}");
        return n;
    }

    /// <summary>The Orleans configuration these settings describe.</summary>
    public ClusterConfig ClusterConfig() => new()
    {
        Location = Location,
        ServiceId = ServiceId,
        ClusterId = ClusterId,
        SiloName = Id,
        Roles = Roles,
        SiloPort = SiloPort,
        GatewayPort = GatewayPort,
        AdvertisedAddress = Advertise,
        Metadata = Metadata,
        Work = new WorkOptions { Slots = Slots, Grace = Grace, WorkDirectory = WorkDirectory },
        Sweeps = new SweepOptions { ReminderPeriod = ReminderPeriod },
        ProbeTimeout = ProbeTimeout,
        MissedProbes = MissedProbes,
        DeathVotes = DeathVotes,
        Kubernetes = Kubernetes,
        ConnectWait = StoreWait,
    };

    public static string Usage()
    {
        var b = new System.Text.StringBuilder("saecluster-silo — an Orleans silo running SaeCluster sweeps, serving the HTTP API\n\nOptions (flags win over environment variables):\n");
        foreach (var (flag, e, help) in Flags) b.Append($"  {flag,-18} {e,-28} {help}\n");
        b.Append("\nSubcommands: drain (hand running work back, keep serving: a preStop hook), db init (create or update the PostgreSQL schema)\n");
        b.Append("Endpoints: /healthz, /healthz/live, /metrics, /dashboard, /api/sweeps[/{id}[/cancel|/actors]], /api/silos, /api/silo, /api/silo/drain\n");
        return b.ToString();
    }
}
