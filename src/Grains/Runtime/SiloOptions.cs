namespace SaeCluster.Grains;

/// <summary>
/// How a silo runs actors: its id, how many actors of each kind it runs at once (its capabilities), the
/// lease length (renewed every third of it), how often it polls for work, and where activations keep
/// temporary files.
/// </summary>
public sealed record SiloOptions
{
    public string Id { get; }
    public IReadOnlyDictionary<string, int> Slots { get; }
    public TimeSpan Lease { get; }
    public TimeSpan PollInterval { get; }
    public string WorkDirectory { get; }
    /// <summary>How long a graceful shutdown waits for activations to save and hand their leases back.</summary>
    public TimeSpan ShutdownGrace { get; }

    public SiloOptions(string id, IReadOnlyDictionary<string, int> slots, string workDirectory,
        TimeSpan? lease = null, TimeSpan? pollInterval = null, TimeSpan? shutdownGrace = null)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new ArgumentException("a silo needs an id", nameof(id));
        if (slots.Count == 0 || slots.Values.Any(v => v < 0) || slots.Values.Sum() == 0)
            throw new ArgumentException($"slots must give each kind a count ≥ 0 and at least one > 0 (got {Describe(slots)})", nameof(slots));
        Id = id;
        Slots = new Dictionary<string, int>(slots);
        WorkDirectory = Path.GetFullPath(workDirectory);
        Lease = lease ?? TimeSpan.FromSeconds(30);
        if (Lease < TimeSpan.FromMilliseconds(300)) throw new ArgumentException($"lease {Lease} is too short", nameof(lease));
        PollInterval = pollInterval ?? TimeSpan.FromMilliseconds(500);
        ShutdownGrace = shutdownGrace ?? TimeSpan.FromSeconds(60);
    }

    /// <summary>Parses <c>coordinator=1,producer=1,trainer=4</c>.</summary>
    public static Dictionary<string, int> ParseSlots(string spec, string field = "--slots")
    {
        var slots = new Dictionary<string, int>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2 || !int.TryParse(kv[1], out int n) || n < 0)
                throw new ArgumentException($"{field}: '{part}' is not kind=count (e.g. coordinator=1,producer=1,trainer=4)");
            if (!ActorKinds.All.Contains(kv[0])) throw new ArgumentException($"{field}: unknown actor kind '{kv[0]}' ({string.Join(", ", ActorKinds.All)})");
            slots[kv[0]] = n;
        }
        if (slots.Values.Sum() == 0) throw new ArgumentException($"{field}: '{spec}' gives the silo no slot");
        return slots;
    }

    public static string Describe(IReadOnlyDictionary<string, int> slots) => string.Join(",", slots.Select(kv => $"{kv.Key}={kv.Value}"));
}
