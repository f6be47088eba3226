using System.Text.Json.Nodes;

namespace SaeCluster.Grains;

/// <summary>
/// What clients do with sweeps, over the cluster store: submit (creates the coordinator actor, which a
/// silo claims and expands), list, read the status of one, cancel, delete. Used by the silo's HTTP API
/// and by the embedded <c>saectl run</c> alike.
/// </summary>
public sealed class SweepService(IClusterStore store, IBlobStore blobs)
{
    public IClusterStore Store => store;
    public IBlobStore Blobs => blobs;

    /// <summary>Submits a validated sweep under its name; <see cref="SweepExistsException"/> when the name is taken.</summary>
    public async Task<string> SubmitAsync(SweepSpec spec, CancellationToken ct = default)
    {
        var state = new JsonObject { ["spec"] = spec.ToYaml(), ["submitted"] = DateTimeOffset.UtcNow.ToString("O"), ["phase"] = "pending" };
        if (!await store.CreateActorAsync(SweepKeys.Coordinator(spec.Name), ActorKinds.Coordinator, ActorKinds.Coordinator, state.ToJsonString(), ct))
        {
            var existing = await store.GetAsync(SweepKeys.Coordinator(spec.Name), ct);
            throw new SweepExistsException(spec.Name, StateName(existing?.Status ?? ActorStatus.Pending));
        }
        return spec.Name;
    }

    /// <summary>Every sweep, from one listing of all sweep actors.</summary>
    public async Task<IReadOnlyList<SweepStatus>> ListAsync(CancellationToken ct = default)
    {
        var actors = await store.ListAsync("sweep/", null, ct);
        return actors.GroupBy(a => SweepKeys.SweepOf(a.Key))
            .Select(g => StatusOf(g.Key, g.ToArray()))
            .OfType<SweepStatus>()
            .ToArray();
    }

    /// <summary>The sweep's status, or null when there is no such sweep.</summary>
    public async Task<SweepStatus?> GetAsync(string id, CancellationToken ct = default) =>
        StatusOf(id, await store.ListAsync(SweepKeys.Prefix(id), null, ct));

    static SweepStatus? StatusOf(string id, IReadOnlyList<ActorRecord> actors)
    {
        var coord = actors.FirstOrDefault(a => a.Key == SweepKeys.Coordinator(id));
        if (coord == null) return null;
        var cs = ActorState.Parse(coord.State);
        var producers = actors.Where(a => a.Kind == ActorKinds.Producer).ToArray();
        long produced = producers.Sum(p => (long?)ActorState.Parse(p.State)["tokens"] ?? 0);
        var trainers = actors.Where(a => a.Kind == ActorKinds.Trainer).Select(TrainerOf).ToArray();
        string? error = (string?)cs["error"] ?? actors.Where(a => a.Status == ActorStatus.Failed).Select(a => (string?)ActorState.Parse(a.State)["error"]).FirstOrDefault(e => e != null);
        return new SweepStatus(id, StateName(coord.Status), Time(cs["submitted"]), Time(cs["finished"]), error,
            producers.Length, producers.Count(p => p.Status == ActorStatus.Done), produced, (long?)cs["tokens_to_produce"] ?? 0, trainers);
    }

    static TrainerStatus TrainerOf(ActorRecord r)
    {
        var s = ActorState.Parse(r.State);
        var (layer, site) = SweepKeys.SiteOf(r.Key);
        var saes = (s["results"] as JsonArray ?? s["saes"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Select(o => new SaeStatus((string?)o["name"] ?? "?", (double?)o["l0"] ?? 0, (double?)o["fvu"] ?? 0, (double?)o["dead_fraction"] ?? 0,
                (double?)o["loss"], (string?)o["output"]))
            .ToArray();
        return new TrainerStatus(Models.SiteSelection.FolderName(layer, site), StateName(r.Status), r.Status == ActorStatus.Running && (string?)s["phase"] is null or "queued" ? "starting" : (string?)s["phase"] ?? "queued",
            (long?)s["tokens"] ?? 0, (long?)s["total_tokens"] ?? 0, (double?)s["tokens_per_s"] ?? 0, r.Owner, saes, (string?)s["error"]);
    }

    static DateTimeOffset? Time(JsonNode? n) => DateTimeOffset.TryParse((string?)n, out var t) ? t : null;

    public static string StateName(ActorStatus s) => s switch
    {
        ActorStatus.Pending => "pending",
        ActorStatus.Running => "running",
        ActorStatus.Done => "done",
        ActorStatus.Failed => "failed",
        _ => "cancelled",
    };

    /// <summary>Cancels every unfinished actor of the sweep (running activations are fenced and stop). False when there is no such sweep.</summary>
    public async Task<bool> CancelAsync(string id, CancellationToken ct = default)
    {
        if (await store.GetAsync(SweepKeys.Coordinator(id), ct) == null) return false;
        await store.EndAllAsync(SweepKeys.Prefix(id), ActorStatus.Cancelled, ct);
        return true;
    }

    /// <summary>Removes the sweep: cancels what runs, then deletes its actors and every blob under it.</summary>
    public async Task DeleteAsync(string id, CancellationToken ct = default)
    {
        await store.EndAllAsync(SweepKeys.Prefix(id), ActorStatus.Cancelled, ct);
        await blobs.DeletePrefixAsync(SweepKeys.BlobPrefix(id), ct);
        await store.DeleteAllAsync(SweepKeys.Prefix(id), ct);
    }
}
