using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;

namespace SaeCluster.Grains;

/// <summary>
/// The machinery shared by producers and trainers, the Orleans way: the work runs off the activation's
/// scheduler (<see cref="RunAsync"/> in <c>Task.Run</c>, a grain call never awaits it), a grain timer keeps
/// the activation alive and publishes progress to the sweep, and <see cref="OnDeactivateAsync"/> cancels
/// the work, lets it checkpoint, and awaits it.
/// <para>Fencing: starting the work bumps the epoch in the grain's state with an ETag-checked write; every
/// later write goes through <see cref="CommitAsync"/> on the activation's scheduler, copy-on-write, also
/// ETag-checked. A stale activation (Orleans can briefly run two during membership changes) fails its
/// next write with an ETag conflict and stops at once: it may upload, but never publish.</para>
/// <para>Failures: transient ones (a store or network outage) are retried after a pause in the same
/// activation; anything else ends the work Failed with its message.</para>
/// </summary>
public abstract class WorkGrain<TState, TReport> : Grain where TState : WorkState, new()
{
    readonly IPersistentState<TState> _stored;
    readonly DeepCopier<TState> _copier;
    TaskScheduler _scheduler = TaskScheduler.Default;
    CancellationTokenSource? _cts;
    Task? _loop;
    IGrainTimer? _timer;
    IDisposable? _slot;
    volatile bool _fenced, _ending, _deactivating;

    protected WorkGrain(IPersistentState<TState> stored, DeepCopier<TState> copier, SiloWork silo, IBlobStore blobs, ILogger log)
    {
        _stored = stored;
        _copier = copier;
        Silo = silo;
        Blobs = blobs;
        Log = log;
    }

    protected SiloWork Silo { get; }
    protected IBlobStore Blobs { get; }
    protected ILogger Log { get; }
    /// <summary>The grain's key (cached at activation: usable from the work's thread).</summary>
    protected string Key { get; private set; } = "";

    /// <summary>The grain factory, usable from the work's thread (the grain's own property is only for its scheduler).</summary>
    protected IGrainFactory Grains { get; private set; } = null!;
    protected string Sweep => SweepKeys.SweepOf(Key);

    /// <summary><see cref="SiloRoles.Producer"/> or <see cref="SiloRoles.Trainer"/>: the slots this work takes.</summary>
    protected abstract string Kind { get; }

    /// <summary>The state as last committed (read-only: change it through <see cref="CommitAsync"/>). Safe to read from the work's thread.</summary>
    protected TState State => Volatile.Read(ref _stateRef) ?? _stored.State;
    TState? _stateRef;

    protected long Epoch => State.Epoch;

    /// <summary>The work is being stopped because the activation deactivates (silo shutdown, drain): save what is worth saving.</summary>
    protected bool Deactivating => _deactivating && !_fenced;

    /// <summary>This activation was superseded; nothing it writes will be accepted.</summary>
    protected bool Fenced => _fenced;

    /// <summary>A folder for this activation's temporary files, deleted when the work ends here.</summary>
    protected string WorkDirectory => Path.Combine(Silo.Options.WorkDirectory, $"{WorkOptions.FolderName(Key)}-e{Epoch}");

    /// <summary>The work itself, on a thread-pool thread. Commits through <see cref="CommitAsync"/>; ends by committing a final status.</summary>
    protected abstract Task RunAsync(CancellationToken ct);

    /// <summary>What the sweep is told (built on the activation's scheduler).</summary>
    protected abstract TReport BuildReport();

    /// <summary>Sends a report to the sweep.</summary>
    protected abstract Task PublishAsync(TReport report);

    public override Task OnActivateAsync(CancellationToken ct)
    {
        _scheduler = TaskScheduler.Current;
        Key = this.GetPrimaryKeyString();
        Grains = GrainFactory;
        Volatile.Write(ref _stateRef, _stored.State);
        return Task.CompletedTask;
    }

    public Task<TReport> GetReportAsync() => Task.FromResult(BuildReport());

    public async Task<TReport> StartAsync()
    {
        if (State.Status.IsFinal() || _fenced || _ending || _loop is { IsCompleted: false }) return BuildReport();
        if (!Silo.IsActive)
        {
            if (Silo.IsDeclaredDead) Log.LogWarning("{Key}: not starting: this silo was declared dead", Key);
            DeactivateOnIdle();
            return BuildReport();
        }
        try
        {
            await WriteAsync(s =>
            {
                s.Epoch++;
                s.Status = WorkStatus.Running;
                s.Silo = Silo.SiloName;
                s.Phase = "queued";
                s.Error = null;
            }, "claim");
        }
        catch (WorkFencedException) { return BuildReport(); }
        _cts = new CancellationTokenSource();
        var local = Silo.Register(Key, Kind, Epoch);
        var ct = _cts.Token;
        _timer ??= this.RegisterGrainTimer(PublishTickAsync, new GrainTimerCreationOptions(Silo.Options.ProgressEvery, Silo.Options.ProgressEvery) { KeepAlive = true });
        Log.LogInformation("{Key}: starting on {Silo} (epoch {Epoch})", Key, Silo.SiloName, Epoch);
        _loop = Task.Run(() => LoopAsync(local, ct));
        return BuildReport();
    }

    public async Task<TReport> EndAsync(WorkStatus status)
    {
        if (!status.IsFinal()) throw new ArgumentException($"EndAsync ends work as done, failed or cancelled, not {status}");
        if (State.Status.IsFinal()) return BuildReport();
        await StopLoopAsync(deactivating: false);
        try
        {
            await WriteAsync(s =>
            {
                s.Status = status;
                s.Phase = status.Name();
                s.Silo = null;
                s.Finished = DateTimeOffset.UtcNow;
            }, "commit");
        }
        catch (WorkFencedException) { }
        Log.LogInformation("{Key}: ended {Status}", Key, status.Name());
        return BuildReport();
    }

    public async Task ForgetAsync()
    {
        await StopLoopAsync(deactivating: false);
        if (_stored.RecordExists) await _stored.ClearStateAsync();
        Volatile.Write(ref _stateRef, _stored.State);
        StopTimer();
        DeactivateOnIdle();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken ct)
    {
        StopTimer();
        if (_loop is { IsCompleted: false })
        {
            Log.LogInformation("{Key}: deactivating ({Reason}): stopping the work so it can save and hand back", Key, reason.Description);
            await StopLoopAsync(deactivating: true);
        }
    }

    async Task StopLoopAsync(bool deactivating)
    {
        if (deactivating) _deactivating = true;
        else _ending = true;
        _cts?.Cancel();
        if (_loop == null) return;
        try { await _loop.WaitAsync(Silo.Options.Grace); }
        catch (TimeoutException) { Log.LogWarning("{Key}: the work did not stop within {Grace} s", Key, Silo.Options.Grace.TotalSeconds); }
    }

    /// <summary>
    /// Gives this work's slot back before the work ends: what is left (final commits, cleanup) holds no model,
    /// SAE or batch, and the next piece of work queued on this silo can start now.
    /// </summary>
    protected void ReleaseSlot() => _slot?.Dispose();

    /// <summary>
    /// Changes the state (on a copy) and writes it, ETag-checked, on the activation's scheduler. Throws
    /// <see cref="WorkFencedException"/> when a newer activation wrote since (this one then stops);
    /// any other failure leaves the committed state as it was and propagates (transient ones are retried).
    /// </summary>
    protected Task CommitAsync(Action<TState> change) => OnScheduler(() => WriteAsync(change, "commit"));

    // Runs action on the activation's scheduler (where grain state and timers live).
    Task OnScheduler(Func<Task> action) =>
        TaskScheduler.Current == _scheduler ? action() : Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.None, _scheduler).Unwrap();

    async Task WriteAsync(Action<TState> change, string operation)
    {
        if (_fenced) throw new WorkFencedException(Key, State.Epoch);
        var previous = _stored.State;
        var next = _copier.Copy(previous);
        change(next);
        _stored.State = next;
        long start = Stopwatch.GetTimestamp();
        try { await _stored.WriteStateAsync(); }
        catch (InconsistentStateException e)
        {
            _stored.State = previous;
            Fence();
            throw new WorkFencedException(Key, previous.Epoch, e);
        }
        catch
        {
            _stored.State = previous;
            throw;
        }
        finally { SaeClusterMetrics.LeaseOperations.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, new KeyValuePair<string, object?>("op", operation)); }
        Volatile.Write(ref _stateRef, next);
        _ = PublishQuietlyAsync();
    }

    void Fence()
    {
        if (_fenced) return;
        _fenced = true;
        _cts?.Cancel();
        Silo.CountFenced();
        SaeClusterMetrics.LeasesLost.Add(1, new("silo", Silo.SiloName), new("kind", Kind));
        Log.LogWarning("{Key}: fenced: a newer activation of this work wrote its state (lease lost); this activation (epoch {Epoch}) stops without publishing", Key, State.Epoch);
        DeactivateOnIdle();
    }

    async Task LoopAsync(LocalWork local, CancellationToken ct)
    {
        string outcome = "failed";
        try
        {
            Directory.CreateDirectory(WorkDirectory);
            using (_slot = await Silo.AcquireAsync(local, ct))
            {
                while (true)
                {
                    try
                    {
                        await RunAsync(ct);
                        break;
                    }
                    catch (Exception e) when (!ct.IsCancellationRequested && !_fenced && TransientErrors.Is(e))
                    {
                        Log.LogWarning("{Key}: {Kind} unavailable ({Type}: {Message}); retrying in {Pause} s", Key, ErrorKinds.Of(e), e.GetType().Name, e.Message, Silo.Options.RetryPause.TotalSeconds);
                        SaeClusterMetrics.Errors.Add(1, new("where", Kind), new("error", ErrorKinds.Of(e)));
                        await Task.Delay(Silo.Options.RetryPause, ct);
                    }
                }
            }
            outcome = State.Status.Name();
        }
        catch (Exception) when (_fenced) { outcome = "lost"; }
        // stopped (deactivating, ended): a cancellation, or a call the stop cut short (its silo going away) — not a failure
        catch (Exception stop) when (ct.IsCancellationRequested && (stop is OperationCanceledException || TransientErrors.Is(stop)))
        {
            outcome = _deactivating ? "shutdown" : "cancelled";
            if (_deactivating)
                try { await CommitAsync(s => s.Silo = null); } // handed back: the next activation may start anywhere at once
                catch (Exception e) when (e is WorkFencedException || TransientErrors.Is(e)) { }
        }
        catch (Exception e)
        {
            string error = e is WorkFailedException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            Log.LogError(e is WorkFailedException ? null : e, "{Key}: failed: {Error}", Key, error);
            SaeClusterMetrics.Errors.Add(1, new("where", Kind), new("error", ErrorKinds.Of(e)));
            try
            {
                await CommitAsync(s =>
                {
                    s.Status = WorkStatus.Failed;
                    s.Phase = "failed";
                    s.Error = error;
                    s.Finished = DateTimeOffset.UtcNow;
                });
            }
            catch (Exception c) when (c is WorkFencedException || TransientErrors.Is(c)) { Log.LogWarning("{Key}: could not record the failure ({Message})", Key, c.Message); }
        }
        finally
        {
            Silo.Unregister(local);
            SaeClusterMetrics.Activations.Add(1, new("silo", Silo.SiloName), new("kind", Kind), new("outcome", outcome));
            try { if (Directory.Exists(WorkDirectory)) Directory.Delete(WorkDirectory, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            Log.LogInformation("{Key}: work ended here ({Outcome})", Key, outcome);
        }
    }

    async Task PublishTickAsync()
    {
        await PublishQuietlyAsync();
        if (_loop is { IsCompleted: true } && (State.Status.IsFinal() || _fenced)) StopTimer(); // the work is over: let the activation be collected
    }

    void StopTimer()
    {
        _timer?.Dispose();
        _timer = null;
    }

    async Task PublishQuietlyAsync()
    {
        if (!Silo.IsActive) return; // shutting down or declared dead: the sweep hears from the next activation
        try { await PublishAsync(BuildReport()).WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (Exception e) when (e is TimeoutException || TransientErrors.Is(e)) { } // the sweep asks again at its next tick
    }
}
