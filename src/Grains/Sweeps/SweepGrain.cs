using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace SaeCluster.Grains;

/// <summary>
/// A sweep. Its producers (<c>{sweep}/{index}</c>, each a range of shards; one forward pass writes every
/// site) and trainers (<c>{sweep}/{layer}.{site}</c>, all SAEs of a site in one pass) follow from the
/// spec, so expanding is nothing but starting them. A grain timer ticks while the sweep runs: it pings
/// every unfinished child (StartAsync is idempotent, and starts work afresh — from its checkpoint —
/// when the silo that ran it is gone), skips producers past the corpus' end, fails the sweep when a child
/// fails, and finishes it when every trainer is done. A durable reminder re-activates the sweep itself
/// after its silo is lost. Children report progress in between; the sweep keeps those reports in memory
/// and persists only what a re-activation needs (finished trainers' results; finished producers' shard
/// lists go to the catalog blobs).
/// </summary>
[RolePlacement(SiloRoles.Coordinator)]
public sealed class SweepGrain(
    [PersistentState("sweep", StorageNames.Default)] IPersistentState<SweepState> stored,
    SweepOptions options, ClusterRoles roles, SiloWork silo, IBlobStore blobs, ILogger<SweepGrain> log) : Grain, ISweepGrain, IRemindable
{
    const string ReminderName = "tick";
    readonly Dictionary<int, ProducerReport> _producers = [];
    readonly Dictionary<string, TrainerReport> _trainers = [];
    readonly Dictionary<string, EvaluatorReport> _evaluators = [];
    IGrainTimer? _timer;
    SweepTelemetry? _telemetry;
    string? _message;
    bool _settled; // final, and every child confirmed final

    string Name => this.GetPrimaryKeyString()["sweep/".Length..];
    SweepSpec Spec => SweepSpecCache.Get(Name, stored.State.Spec);
    int ProducerCount => Spec.EstimatedProducers;
    IEnumerable<string> Sites => Spec.Sites.Select(s => Models.SiteSelection.FolderName(s.Layer, s.Site));
    IEnumerable<int> UnfinishedProducers => Enumerable.Range(0, ProducerCount).Where(i => !Final(i));
    IEnumerable<string> UnfinishedSites => Sites.Where(s => !Final(s));
    bool Evaluates => Spec.ModelEvalTokens > 0;
    // evaluations still to do: every site's, once its trainer is done
    IEnumerable<string> UnfinishedEvaluations => Evaluates ? Sites.Where(s => !EvaluationFinal(s)) : [];

    IActivationProducerGrain Producer(int index) => GrainFactory.GetGrain<IActivationProducerGrain>(SweepKeys.Producer(Name, index));
    ISaeTrainerGrain Trainer(string site) => GrainFactory.GetGrain<ISaeTrainerGrain>(SweepKeys.Trainer(Name, site));
    ISaeEvaluatorGrain Evaluator(string site) => GrainFactory.GetGrain<ISaeEvaluatorGrain>(SweepKeys.Evaluator(Name, site));

    public override async Task OnActivateAsync(CancellationToken ct)
    {
        if (!stored.RecordExists) return;
        foreach (var (site, r) in stored.State.FinishedTrainers) _trainers[site] = r;
        foreach (var (index, r) in stored.State.FinishedProducers) _producers[index] = r;
        foreach (var (site, r) in stored.State.FinishedEvaluators) _evaluators[site] = r;
        await GrainFactory.GetGrain<ISweepIndexGrain>(ISweepIndexGrain.Key).AddAsync(Name);
        if (!stored.State.Status.IsFinal())
        {
            await RestoreProducersAsync(ct);
            await this.RegisterOrUpdateReminder(ReminderName, options.ReminderPeriod, options.ReminderPeriod);
        }
        StartTimer();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken ct)
    {
        if (_telemetry != null) SaeClusterMetrics.Sweeps.Remove(_telemetry, stored.State.Status.IsFinal() ? SaeClusterMetrics.Linger : TimeSpan.Zero);
        return Task.CompletedTask;
    }

    // finished producers' shard lists, from the catalog blobs the sweep wrote (no producer silo needed)
    async Task RestoreProducersAsync(CancellationToken ct)
    {
        foreach (var (index, summary) in stored.State.FinishedProducers)
        {
            try
            {
                var shards = JsonSerializer.Deserialize<List<ShardRecord>>(await blobs.ReadAllAsync(SweepKeys.CatalogBlob(Name, index), ct)) ?? [];
                _producers[index] = summary with { Shards = shards };
            }
            catch (BlobNotFoundException) { _producers.Remove(index); } // asked of the producer itself at the next tick
        }
    }

    void StartTimer()
    {
        if (_timer != null || !stored.RecordExists) return;
        _telemetry ??= SaeClusterMetrics.Sweeps.Add(new SweepTelemetry(Name));
        _timer = this.RegisterGrainTimer(TickAsync, new GrainTimerCreationOptions(TimeSpan.Zero, options.Tick) { KeepAlive = true });
    }

    void StopTimer()
    {
        _timer?.Dispose();
        _timer = null;
    }

    void TickSoon() => _timer?.Change(TimeSpan.Zero, options.Tick);

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!stored.RecordExists || _settled)
        {
            await UnregisterTickAsync();
            return;
        }
        StartTimer(); // being called is what re-activated us; the timer does the rest
    }

    // ETag-checked like every grain's state: a stale activation of this sweep (another one wrote since it read) stops at once
    async Task WriteAsync(bool clear = false)
    {
        try
        {
            if (clear) await stored.ClearStateAsync();
            else await stored.WriteStateAsync();
        }
        catch (InconsistentStateException)
        {
            log.LogWarning("{Sweep}: a newer activation of this sweep wrote its state; this one stops", Name);
            StopTimer();
            DeactivateOnIdle();
            throw;
        }
    }

    async Task UnregisterTickAsync()
    {
        try
        {
            if (await this.GetReminder(ReminderName) is { } reminder) await this.UnregisterReminder(reminder);
        }
        catch (Exception e) when (TransientErrors.Is(e)) { log.LogWarning("{Sweep}: could not unregister its reminder ({Message}); its next tick does", Name, e.Message); }
    }

    public async Task<SubmitResult> SubmitAsync(string yaml, CancellationToken ct)
    {
        if (stored.RecordExists) return new SubmitResult(false, stored.State.Status.Name());
        var spec = SweepSpecCache.Get(Name, yaml);
        stored.State = new SweepState { Spec = yaml, Submitted = DateTimeOffset.UtcNow, Status = WorkStatus.Running };
        await WriteAsync();
        await GrainFactory.GetGrain<ISweepIndexGrain>(ISweepIndexGrain.Key).AddAsync(Name);
        await this.RegisterOrUpdateReminder(ReminderName, options.ReminderPeriod, options.ReminderPeriod);
        log.LogInformation("{Sweep}: submitted: {Producers} producer(s) × {Contexts} contexts, {Trainers} trainer(s) × {Saes} SAE(s)",
            Name, spec.EstimatedProducers, spec.ContextsPerShard * spec.ShardsPerProducer, spec.Sites.Count, spec.Training.Saes.Count);
        StartTimer();
        return new SubmitResult(true, null);
    }

    public Task<string?> GetSpecAsync(CancellationToken ct) => Task.FromResult(stored.RecordExists ? stored.State.Spec : null);

    public Task ReportProducerAsync(ProducerReport report)
    {
        if (_producers.TryGetValue(report.Index, out var known) && known.Status.IsFinal() && !report.Status.IsFinal()) return Task.CompletedTask;
        _producers[report.Index] = report;
        if (report.Status.IsFinal()) TickSoon(); // a slot is free: start the next producer now, not at the next tick
        return Task.CompletedTask;
    }

    public Task ReportTrainerAsync(TrainerReport report)
    {
        if (_trainers.TryGetValue(report.Site, out var known) && known.Status.IsFinal() && !report.Status.IsFinal()) return Task.CompletedTask;
        _trainers[report.Site] = report;
        if (report.Status.IsFinal()) TickSoon();
        return Task.CompletedTask;
    }

    public Task ReportEvaluatorAsync(EvaluatorReport report)
    {
        if (_evaluators.TryGetValue(report.Site, out var known) && known.Status.IsFinal() && !report.Status.IsFinal()) return Task.CompletedTask;
        _evaluators[report.Site] = report;
        if (report.Status.IsFinal()) TickSoon();
        return Task.CompletedTask;
    }

    async Task TickAsync()
    {
        if (!stored.RecordExists) return;
        if (!silo.IsActive)
        {
            // shutting down (its work is handing back), or declared dead (frozen, cut off: the sweep runs on another silo now)
            if (silo.IsDeclaredDead) log.LogWarning("{Sweep}: this silo was declared dead; the sweep stops here", Name);
            StopTimer();
            DeactivateOnIdle();
            return;
        }
        try
        {
            if (stored.State.Status == WorkStatus.Running) await DriveAsync();
            else await SettleAsync();
            if (stored.RecordExists) await PersistFinishedAsync();
        }
        catch (InconsistentStateException) { return; }
        catch (Exception e) when (TransientErrors.Is(e))
        {
            log.LogWarning("{Sweep}: tick failed ({Type}: {Message}); trying again", Name, e.GetType().Name, e.Message);
            SaeClusterMetrics.Errors.Add(1, new("where", SaeClusterMetrics.SweepErrors), new("error", ErrorKinds.Of(e)));
        }
        Report();
    }

    async Task DriveAsync()
    {
        var spec = Spec;
        bool producing = UnfinishedProducers.Any() || UnfinishedEvaluations.Any(s => TrainerDone(s)); // the evaluation runs where producers do
        bool training = UnfinishedSites.Any();
        var missing = new List<string>();
        if (producing && !roles.Available(SiloRoles.Producer)) missing.Add(SiloRoles.Producer);
        if (training && !roles.Available(SiloRoles.Trainer)) missing.Add(SiloRoles.Trainer);
        _message = missing.Count == 0 ? null : $"waiting: no silo in the cluster has the {string.Join(" or ", missing)} role (start one with --role {string.Join(",", missing)})";

        // ping every unfinished trainer and the first unfinished producers, as many as the cluster has producer slots
        // (and one more each, so a slot freed is filled at once): each starts, or resumes from its checkpoint, wherever
        // placement puts it — which is also how work lost with a silo starts again elsewhere
        var pings = new List<Task>();
        int window = 2 * Math.Max(1, roles.Slots(SiloRoles.Producer));
        if (!missing.Contains(SiloRoles.Producer))
            pings.AddRange(UnfinishedProducers.Take(window).Select(i => PingAsync(i, p => p.StartAsync())));
        if (!missing.Contains(SiloRoles.Trainer))
            pings.AddRange(UnfinishedSites.Select(site => PingAsync(site, t => t.StartAsync())));
        if (!missing.Contains(SiloRoles.Producer))
            pings.AddRange(UnfinishedEvaluations.Where(TrainerDone).Select(site => PingEvaluatorAsync(site, e => e.StartAsync())));
        await Task.WhenAll(pings);

        if (_trainers.Values.FirstOrDefault(t => t.Status == WorkStatus.Failed) is { } ft) { await FailAsync($"trainer {Name}/{ft.Site}: {ft.Error ?? "failed"}"); return; }
        if (_producers.Values.FirstOrDefault(p => p.Status == WorkStatus.Failed) is { } fp) { await FailAsync($"producer {SweepKeys.Producer(Name, fp.Index)}: {fp.Error ?? "failed"}"); return; }
        if (_evaluators.Values.FirstOrDefault(e => e.Status == WorkStatus.Failed) is { } fe) { await FailAsync($"evaluation in the model {Name}/{fe.Site}: {fe.Error ?? "failed"}"); return; }

        // the shard count is an estimate: once a producer found the corpus' end, the producers after it have nothing to do
        if (CorpusEnd() is int end)
        {
            var skip = UnfinishedProducers.Where(i => i * spec.ShardsPerProducer >= end).ToArray();
            await Task.WhenAll(skip.Select(i => PingAsync(i, p => p.EndAsync(WorkStatus.Cancelled))));
        }

        if (Sites.All(TrainerDone) && !UnfinishedEvaluations.Any()) await FinishAsync();
    }

    // a call to a child whose answer is its report; a child that does not answer (a dead silo, placement waiting) is asked again next tick
    Task PingAsync(int producer, Func<IActivationProducerGrain, Task<ProducerReport>> call) =>
        PingAsync(call(Producer(producer)), ReportProducerAsync, $"producer {producer}");

    Task PingAsync(string site, Func<ISaeTrainerGrain, Task<TrainerReport>> call) => PingAsync(call(Trainer(site)), ReportTrainerAsync, $"trainer {site}");

    Task PingEvaluatorAsync(string site, Func<ISaeEvaluatorGrain, Task<EvaluatorReport>> call) => PingAsync(call(Evaluator(site)), ReportEvaluatorAsync, $"evaluator {site}");

    async Task PingAsync<T>(Task<T> call, Func<T, Task> report, string what)
    {
        try { await report(await call.WaitAsync(options.PingTimeout)); }
        catch (Exception e) when (e is TimeoutException || TransientErrors.Is(e))
        {
            log.LogDebug("{Sweep}: {What} did not answer ({Message})", Name, what, e.Message);
        }
    }

    bool Final(int producer) => _producers.TryGetValue(producer, out var p) && p.Status.IsFinal();
    bool Final(string site) => _trainers.TryGetValue(site, out var t) && t.Status.IsFinal();
    bool TrainerDone(string site) => _trainers.TryGetValue(site, out var t) && t.Status == WorkStatus.Done;
    bool EvaluationFinal(string site) => _evaluators.TryGetValue(site, out var e) && e.Status.IsFinal();

    int? CorpusEnd() => _producers.Values.Select(p => p.End).Where(e => e != null).Min();

    // finished children whose reports are not yet durable: trainers' results into the state, producers' shard lists into catalog blobs
    async Task PersistFinishedAsync()
    {
        var state = stored.State;
        var newTrainers = _trainers.Values.Where(t => t.Status.IsFinal() && !state.FinishedTrainers.ContainsKey(t.Site)).ToArray();
        var newProducers = _producers.Values.Where(p => p.Status.IsFinal() && !state.FinishedProducers.ContainsKey(p.Index)).ToArray();
        var newEvaluators = _evaluators.Values.Where(e => e.Status.IsFinal() && !state.FinishedEvaluators.ContainsKey(e.Site)).ToArray();
        if (newTrainers.Length == 0 && newProducers.Length == 0 && newEvaluators.Length == 0) return;
        foreach (var p in newProducers.Where(_ => state.Status == WorkStatus.Running))
        {
            using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(p.Shards));
            await blobs.PutAsync(SweepKeys.CatalogBlob(Name, p.Index), content);
        }
        foreach (var t in newTrainers) state.FinishedTrainers[t.Site] = t;
        foreach (var p in newProducers) state.FinishedProducers[p.Index] = p with { Shards = [] };
        foreach (var e in newEvaluators) state.FinishedEvaluators[e.Site] = e;
        await WriteAsync();
    }

    async Task FailAsync(string error)
    {
        var state = stored.State;
        state.Status = WorkStatus.Failed;
        state.Error = error;
        state.Finished = DateTimeOffset.UtcNow;
        await WriteAsync();
        log.LogWarning("{Sweep}: failed: {Error}", Name, error);
        await SettleAsync();
    }

    async Task FinishAsync()
    {
        // every SAE is written: producers still running past what training needed stop
        await SettleAsync();
        if (!Spec.KeepShards)
        {
            await blobs.DeletePrefixAsync(SweepKeys.ShardsPrefix(Name));
            await blobs.DeletePrefixAsync(SweepKeys.CatalogPrefix(Name));
        }
        else await DeleteUncommittedShardsAsync();
        var state = stored.State;
        state.Status = WorkStatus.Done;
        state.Finished = DateTimeOffset.UtcNow;
        await WriteAsync();
        log.LogInformation("{Sweep}: done: {Trainers} trainer(s) finished", Name, _trainers.Count);
    }

    // shard blobs no committed state names (uploaded by activations that were stopped or superseded before they could commit)
    async Task DeleteUncommittedShardsAsync()
    {
        var committed = _producers.Values.SelectMany(p => p.Shards).SelectMany(s => s.Sites.Values).Select(b => b.Blob).ToHashSet(StringComparer.Ordinal);
        var orphans = new List<string>();
        await foreach (var b in blobs.ListAsync(SweepKeys.ShardsPrefix(Name))) if (!committed.Contains(b.Name)) orphans.Add(b.Name);
        foreach (string o in orphans) await blobs.DeleteAsync(o);
        if (orphans.Count > 0) log.LogInformation("{Sweep}: deleted {Count} shard blob(s) that no producer committed", Name, orphans.Count);
    }

    // ends every child not known to be final (cancel, failure, or leftovers past done); settled once all are
    async Task SettleAsync()
    {
        await Task.WhenAll(UnfinishedProducers.Select(i => PingAsync(i, p => p.EndAsync(WorkStatus.Cancelled)))
            .Concat(UnfinishedSites.Select(site => PingAsync(site, t => t.EndAsync(WorkStatus.Cancelled))))
            .Concat(UnfinishedEvaluations.Select(site => PingEvaluatorAsync(site, e => e.EndAsync(WorkStatus.Cancelled)))));
        if (stored.State.Status.IsFinal() && Enumerable.Range(0, ProducerCount).All(Final) && Sites.All(Final) && !UnfinishedEvaluations.Any() && !_settled)
        {
            _settled = true;
            await UnregisterTickAsync();
            StopTimer();
        }
    }

    public async Task<bool> CancelAsync(CancellationToken ct)
    {
        if (!stored.RecordExists) { DeactivateOnIdle(); return false; }
        if (stored.State.Status.IsFinal()) return true;
        var state = stored.State;
        state.Status = WorkStatus.Cancelled;
        state.Finished = DateTimeOffset.UtcNow;
        await WriteAsync();
        log.LogInformation("{Sweep}: cancelled", Name);
        await SettleAsync();
        Report();
        return true;
    }

    public async Task<bool> DeleteAsync(CancellationToken ct)
    {
        if (!stored.RecordExists) { DeactivateOnIdle(); return false; }
        if (!stored.State.Status.IsFinal()) await CancelAsync(ct);
        else await SettleAsync();
        await Task.WhenAll(Enumerable.Range(0, ProducerCount).Select(i => Producer(i).ForgetAsync()).Concat(Sites.Select(s => Trainer(s).ForgetAsync()))
            .Concat(Sites.Select(s => Evaluator(s).ForgetAsync())));
        int deleted = await blobs.DeletePrefixAsync(SweepKeys.BlobPrefix(Name), ct);
        await GrainFactory.GetGrain<ISweepIndexGrain>(ISweepIndexGrain.Key).RemoveAsync(Name);
        await UnregisterTickAsync();
        StopTimer();
        await WriteAsync(clear: true);
        if (_telemetry != null) { SaeClusterMetrics.Sweeps.Remove(_telemetry, TimeSpan.Zero); _telemetry = null; }
        _producers.Clear();
        _trainers.Clear();
        _evaluators.Clear();
        log.LogInformation("{Sweep}: deleted ({Blobs} blob(s))", Name, deleted);
        DeactivateOnIdle();
        return true;
    }

    public Task<ShardCatalog> GetCatalogAsync(string site, CancellationToken ct)
    {
        var shards = new Dictionary<int, ShardEntry>();
        foreach (var p in _producers.Values)
            foreach (var s in p.Shards)
                if (s.Sites.TryGetValue(site, out var blob)) shards[s.Index] = new ShardEntry(blob.Blob, s.Rows, blob.Sha256);
        var spec = Spec;
        int? end = CorpusEnd();
        // complete when every producer has finished: done, or skipped because it starts past the corpus' end
        bool complete = Enumerable.Range(0, ProducerCount).All(i => _producers.TryGetValue(i, out var p)
            && (p.Status == WorkStatus.Done || p.Status == WorkStatus.Cancelled && end != null && i * spec.ShardsPerProducer >= end));
        return Task.FromResult(new ShardCatalog(shards, complete, Math.Min(spec.EstimatedShards, end ?? int.MaxValue)));
    }

    public Task<SweepStatus?> GetStatusAsync(CancellationToken ct)
    {
        if (!stored.RecordExists) { DeactivateOnIdle(); return Task.FromResult<SweepStatus?>(null); }
        var state = stored.State;
        var spec = Spec;
        long total = spec.Training.TrainedTokens;
        var trainers = Sites.Select(site => _trainers.TryGetValue(site, out var t)
                ? WithEvaluation(new TrainerStatus(site, t.Status.Name(), t.Phase, t.Tokens, total, t.TokensPerSecond, t.Silo,
                    t.Saes, t.Error), _evaluators.GetValueOrDefault(site))
                : new TrainerStatus(site, state.Status == WorkStatus.Running ? "pending" : "cancelled", "queued", 0, total, 0, null, [], null))
            .ToArray();
        var producers = _producers.Values.ToArray();
        return Task.FromResult<SweepStatus?>(new SweepStatus(Name, state.Status.Name(), state.Submitted, state.Finished, state.Error,
            ProducerCount, producers.Count(p => p.Status == WorkStatus.Done), producers.Sum(p => p.Tokens), spec.ProducedTokens, trainers,
            state.Status == WorkStatus.Running ? _message : null));
    }

    // a done trainer's row shows its site's evaluation in the model: running (phase "model eval"), failed, or its numbers per SAE
    TrainerStatus WithEvaluation(TrainerStatus t, EvaluatorReport? e)
    {
        if (t.State != "done" || !Evaluates) return t;
        if (e == null || !e.Status.IsFinal()) return t with { Phase = "model eval", State = "running", Silo = e?.Silo ?? t.Silo };
        if (e.Status != WorkStatus.Done) return t with { Error = e.Error ?? t.Error };
        var byName = e.Results.ToDictionary(r => r.Name);
        return t with { Saes = [.. t.Saes.Select(s => byName.TryGetValue(s.Name, out var r) ? s with { DeltaLoss = r.DeltaLoss, CeLossScore = r.CeLossScore } : s)] };
    }

    public Task<IReadOnlyList<WorkView>> GetWorkAsync(CancellationToken ct)
    {
        if (!stored.RecordExists) return Task.FromResult<IReadOnlyList<WorkView>>([]);
        var state = stored.State;
        var list = new List<WorkView> { new(Name, "sweep", state.Status.Name(), 0, null, state.Status.Name(), 0, null, 0, state.Error, state.Spec) };
        foreach (int i in Enumerable.Range(0, ProducerCount))
            list.Add(_producers.TryGetValue(i, out var p)
                ? new WorkView(SweepKeys.Producer(Name, i), SiloRoles.Producer, p.Status.Name(), p.Epoch, p.Silo, p.Phase, p.Tokens, null, 0, p.Error)
                : new WorkView(SweepKeys.Producer(Name, i), SiloRoles.Producer, "pending", 0, null, "queued", 0, null, 0, null));
        foreach (string site in Sites)
            list.Add(_trainers.TryGetValue(site, out var t)
                ? new WorkView(SweepKeys.Trainer(Name, site), SiloRoles.Trainer, t.Status.Name(), t.Epoch, t.Silo, t.Phase, t.Tokens, t.Checkpoint, t.CheckpointStep, t.Error)
                : new WorkView(SweepKeys.Trainer(Name, site), SiloRoles.Trainer, "pending", 0, null, "queued", 0, null, 0, null));
        if (Evaluates)
            foreach (string site in Sites)
                list.Add(_evaluators.TryGetValue(site, out var e)
                    ? new WorkView(SweepKeys.Evaluator(Name, site), "evaluator", e.Status.Name(), e.Epoch, e.Silo, e.Phase, e.Tokens, null, 0, e.Error)
                    : new WorkView(SweepKeys.Evaluator(Name, site), "evaluator", "pending", 0, null, "queued", 0, null, 0, null));
        return Task.FromResult<IReadOnlyList<WorkView>>(list);
    }

    // /metrics: the sweep's state and progress (tokens trained over tokens to train), and its work by kind and state
    void Report()
    {
        if (_telemetry == null || !stored.RecordExists) return;
        var state = stored.State;
        long perSite = Spec.Training.TrainedTokens, total = perSite * Sites.Count(), trained = 0;
        foreach (var t in _trainers.Values) trained += t.Status == WorkStatus.Done ? perSite : Math.Min(perSite, t.Tokens);
        _telemetry.Progress = state.Status == WorkStatus.Done ? 1 : total > 0 ? (double)trained / total : 0;
        _telemetry.State = state.Status.Name();
        var counts = new Dictionary<(string Kind, string State), int>();
        foreach (int i in Enumerable.Range(0, ProducerCount))
        {
            var key = (SiloRoles.Producer, _producers.TryGetValue(i, out var p) ? p.Status.Name() : "pending");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        foreach (string site in Sites)
        {
            var key = (SiloRoles.Trainer, _trainers.TryGetValue(site, out var t) ? t.Status.Name() : "pending");
            counts[key] = counts.GetValueOrDefault(key) + 1;
            if (!Evaluates) continue;
            var ekey = ("evaluator", _evaluators.TryGetValue(site, out var e) ? e.Status.Name() : "pending");
            counts[ekey] = counts.GetValueOrDefault(ekey) + 1;
        }
        _telemetry.Actors = counts;
    }
}
