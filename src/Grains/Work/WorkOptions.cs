namespace SaeCluster.Grains;

/// <summary>
/// How this silo runs producers and trainers: how many of each run at once (the rest wait, queued, in
/// key order), how often running work publishes progress to its sweep, how long it pauses before
/// retrying after a transient failure (a store or network outage), and how long a deactivating
/// activation may take to checkpoint.
/// </summary>
public sealed record WorkOptions
{
    public const int DefaultProducerSlots = 1, DefaultTrainerSlots = 2;

    public IReadOnlyDictionary<string, int> Slots { get; init; } =
        new Dictionary<string, int> { [SiloRoles.Producer] = DefaultProducerSlots, [SiloRoles.Trainer] = DefaultTrainerSlots };
    public TimeSpan ProgressEvery { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RetryPause { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan Grace { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Where activations keep temporary files (one folder each, deleted when it ends).</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "saecluster-work");

    public int SlotsFor(string kind) => Slots.GetValueOrDefault(kind);

    /// <summary>A key or silo name as a folder name: letters, digits, '-' and '.' kept, anything else '_'.</summary>
    public static string FolderName(string key) => string.Concat(key.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_'));

    /// <summary>Parses <c>producer=1,trainer=4</c>.</summary>
    public static Dictionary<string, int> ParseSlots(string spec, string field = "--slots")
    {
        var slots = new Dictionary<string, int> { [SiloRoles.Producer] = DefaultProducerSlots, [SiloRoles.Trainer] = DefaultTrainerSlots };
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2 || !int.TryParse(kv[1], out int n) || n < 1)
                throw new ArgumentException($"{field}: '{part}' is not kind=count with count ≥ 1 (e.g. producer=1,trainer=4)");
            if (kv[0] is not (SiloRoles.Producer or SiloRoles.Trainer))
                throw new ArgumentException($"{field}: '{kv[0]}' takes no slots (producer and trainer do; which kinds a silo runs is --role)");
            slots[kv[0]] = n;
        }
        return slots;
    }

    public static string Describe(IReadOnlyDictionary<string, int> slots) => string.Join(",", slots.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}"));
}
