using System.Text.Json.Nodes;

namespace SaeCluster.Grains;

/// <summary>
/// One per sweep. Expands the sweep into producer actors (each a range of shards: one forward pass
/// writes every requested site) and trainer actors (one per layer × site, training all its SAEs in one
/// pass), then watches them: the sweep is done when every trainer is, and fails (cancelling the rest)
/// as soon as any actor fails.
/// </summary>
public sealed class SweepCoordinatorActor(TimeSpan? poll = null) : IActor
{
    readonly TimeSpan _poll = poll ?? TimeSpan.FromSeconds(1);

    public async Task RunAsync(ActorContext ctx, CancellationToken ct)
    {
        string sweep = SweepKeys.SweepOf(ctx.Key);
        // /metrics shows the sweep's state and progress from the silo running its coordinator (and its end state a while after)
        var telemetry = SaeClusterMetrics.Sweeps.Add(new SweepTelemetry(sweep));
        try { await CoordinateAsync(ctx, sweep, telemetry, ct); }
        finally
        {
            // stopped by a cancel (the epoch bump fenced us): show that end too; a silo stopping or losing the lease shows nothing
            if (telemetry.State == "running" && await ctx.StoredStatusAsync(TimeSpan.FromSeconds(2)) == ActorStatus.Cancelled) telemetry.State = "cancelled";
            SaeClusterMetrics.Sweeps.Remove(telemetry, telemetry.State == "running" ? TimeSpan.Zero : SaeClusterMetrics.Linger);
        }
    }

    async Task CoordinateAsync(ActorContext ctx, string sweep, SweepTelemetry telemetry, CancellationToken ct)
    {
        var state = ctx.StateObject();
        if ((bool?)state["expanded"] != true)
        {
            var spec = await SweepSpecCache.LoadAsync(ctx.Store, sweep, ct);
            int shards = spec.EstimatedShards, perProducer = spec.ShardsPerProducer;
            int producers = (shards + perProducer - 1) / perProducer;
            for (int i = 0; i < producers; i++)
            {
                var ps = new JsonObject { ["first"] = i * perProducer, ["count"] = Math.Min(perProducer, shards - i * perProducer) };
                await ctx.Store.CreateActorAsync(SweepKeys.Producer(sweep, i), ActorKinds.Producer, ActorKinds.Producer, ps.ToJsonString(), ct);
            }
            foreach (var (layer, site) in spec.Sites)
                await ctx.Store.CreateActorAsync(SweepKeys.Trainer(sweep, layer, site), ActorKinds.Trainer, ActorKinds.Trainer,
                    new JsonObject { ["phase"] = "queued", ["total_tokens"] = spec.Training.TotalSteps * spec.Training.BatchSize }.ToJsonString(), ct);
            state["expanded"] = true;
            state["phase"] = "running";
            state["producers"] = producers;
            state["trainers"] = spec.Sites.Count;
            state["tokens_to_produce"] = spec.ProducedTokens;
            await ctx.CommitAsync(state, ActorStatus.Running, ct);
            ctx.Log($"expanded into {producers} producer(s) × {spec.ContextsPerShard * perProducer} contexts and {spec.Sites.Count} trainer(s) × {spec.Training.Saes.Count} SAE(s)");
        }
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var actors = await ctx.Store.ListAsync(SweepKeys.Prefix(sweep), null, ct);
            Report(telemetry, actors, ctx.Key);
            var failed = actors.FirstOrDefault(a => a.Status == ActorStatus.Failed && a.Key != ctx.Key);
            if (failed != null)
            {
                string error = $"{failed.Key}: {(string?)ActorState.Parse(failed.State)["error"] ?? "failed"}";
                state["phase"] = "failed";
                state["error"] = error;
                state["finished"] = DateTimeOffset.UtcNow.ToString("O");
                await ctx.CommitAsync(state, ActorStatus.Failed, ct);
                telemetry.State = "failed";
                // fence everything still running; the coordinator itself is already terminal
                await ctx.Store.EndAllAsync(SweepKeys.ProducerPrefix(sweep), ActorStatus.Cancelled, ct);
                await ctx.Store.EndAllAsync(SweepKeys.TrainerPrefix(sweep), ActorStatus.Cancelled, ct);
                ctx.Log($"failed: {error}");
                return;
            }
            await SkipProducersPastTheCorpusAsync(ctx, actors, ct);
            var trainers = actors.Where(a => a.Kind == ActorKinds.Trainer).ToArray();
            if (trainers.Length > 0 && trainers.All(t => t.Status == ActorStatus.Done))
            {
                // every SAE is written; producers still running past what training needed are stopped, and (keep_shards:
                // false) what they committed after the trainers cleaned up goes too — a fenced producer deletes what it
                // uploaded but could no longer commit itself
                await ctx.Store.EndAllAsync(SweepKeys.ProducerPrefix(sweep), ActorStatus.Cancelled, ct);
                if (!(await SweepSpecCache.LoadAsync(ctx.Store, sweep, ct)).KeepShards)
                    await ctx.Blobs.DeletePrefixAsync(SweepKeys.ShardsPrefix(sweep), ct);
                state["phase"] = "done";
                state["finished"] = DateTimeOffset.UtcNow.ToString("O");
                await ctx.CommitAsync(state, ActorStatus.Done, ct);
                telemetry.Progress = 1;
                telemetry.State = "done";
                ctx.Log($"done: {trainers.Length} trainer(s) finished");
                return;
            }
            await Task.Delay(_poll, ct);
        }
    }

    // Progress is tokens trained over tokens to train, summed over the trainers; actors are counted by kind and state.
    static void Report(SweepTelemetry t, IReadOnlyList<ActorRecord> actors, string self)
    {
        long trained = 0, total = 0;
        foreach (var a in actors.Where(a => a.Kind == ActorKinds.Trainer))
        {
            var s = ActorState.Parse(a.State);
            long tt = (long?)s["total_tokens"] ?? 0;
            total += tt;
            trained += a.Status == ActorStatus.Done ? tt : Math.Min(tt, (long?)s["tokens"] ?? 0);
        }
        t.Progress = total > 0 ? (double)trained / total : 0;
        t.Actors = actors.Where(a => a.Key != self).GroupBy(a => (a.Kind, a.Status.ToString().ToLowerInvariant())).ToDictionary(g => g.Key, g => g.Count());
    }

    // The shard count is an estimate; once a producer finds the corpus' end, the producers after it have nothing to do.
    static async Task SkipProducersPastTheCorpusAsync(ActorContext ctx, IReadOnlyList<ActorRecord> actors, CancellationToken ct)
    {
        var producers = actors.Where(a => a.Kind == ActorKinds.Producer).Select(a => (a, State: ActorState.Parse(a.State))).ToArray();
        int? end = producers.Select(p => (int?)p.State["end"]).Where(e => e != null).Min();
        if (end == null) return;
        foreach (var (p, state) in producers)
            if (p.Status is ActorStatus.Pending or ActorStatus.Running && (int?)state["first"] >= end)
                await ctx.Store.EndAllAsync(p.Key, ActorStatus.Cancelled, ct); // producer keys have fixed width: the key is its own prefix
    }
}
