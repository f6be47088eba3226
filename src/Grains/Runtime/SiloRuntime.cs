using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;

namespace SaeCluster.Grains;

/// <summary>
/// Runs actors on this silo (the Orleans substitute): heartbeats into the membership table, claims
/// actors of the kinds it has free slots for, renews each lease while its activation runs, stops an
/// activation whose lease is lost, and on shutdown asks every activation to save, then hands the leases
/// back so other silos take over at once. Store outages are ridden out: claims and renewals are retried,
/// and an activation stops only once its lease has really lapsed.
/// </summary>
public sealed class SiloRuntime(SiloOptions options, IClusterStore store, IBlobStore blobs, Func<string, IActor> actors, Action<string>? log = null)
{
    readonly ConcurrentDictionary<string, Activation> _active = new();
    readonly Action<string> _log = log ?? (_ => { });
    readonly SemaphoreSlim _wake = new(0);
    readonly IBlobStore _blobs = blobs as MeteredBlobStore ?? new MeteredBlobStore(blobs);

    public SiloOptions Options => options;

    /// <summary>What this silo runs right now.</summary>
    public IReadOnlyList<ActivationInfo> Activations =>
        _active.Values.Select(a => new ActivationInfo(a.Lease.Key, a.Lease.Kind, a.Lease.Epoch, a.Started)).OrderBy(a => a.Key, StringComparer.Ordinal).ToArray();

    /// <summary>Leases lost (re-claimed elsewhere or cancelled) and activations failed, since start.</summary>
    public long LeasesLost => Interlocked.Read(ref _leasesLost);
    public long ActivationsStarted => Interlocked.Read(ref _started);
    long _leasesLost, _started;

    /// <summary>Claims and runs actors until <paramref name="stop"/> fires, then shuts down gracefully.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        Directory.CreateDirectory(options.WorkDirectory);
        var caps = options.Slots.Where(kv => kv.Value > 0).Select(kv => kv.Key).ToArray();
        _log($"silo {options.Id} up: slots {SiloOptions.Describe(options.Slots)}, lease {options.Lease.TotalSeconds:G3} s");
        SaeClusterMetrics.Silos.Add(this);
        foreach (var kind in options.Slots.Keys) SaeClusterMetrics.LeasesLost.Add(0, Tag("silo", options.Id), Tag("kind", kind)); // a series from the start, not from the first loss
        SaeClusterMetrics.StartErrorCounters(options.Slots.Keys);
        try { await LoopAsync(caps, stop); }
        finally { SaeClusterMetrics.Silos.Remove(this, TimeSpan.Zero); }
    }

    async Task LoopAsync(string[] caps, CancellationToken stop)
    {
        var heartbeatEvery = options.Lease / 3;
        var lastHeartbeat = DateTime.MinValue;
        TimeSpan backoff = options.PollInterval;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (DateTime.UtcNow - lastHeartbeat >= heartbeatEvery)
                {
                    await Timed("heartbeat", () => store.HeartbeatAsync(options.Id, caps, stop));
                    lastHeartbeat = DateTime.UtcNow;
                }
                await RenewDueAsync(stop);
                bool claimed = await ClaimAsync(stop);
                backoff = options.PollInterval;
                if (claimed) continue;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { break; }
            catch (Exception e) when (IsTransient(e))
            {
                _log($"silo {options.Id}: cluster store unavailable ({e.GetType().Name}: {e.Message}); retrying in {backoff.TotalSeconds:G3} s");
                SaeClusterMetrics.Errors.Add(1, Tag("where", SaeClusterMetrics.RuntimeErrors), Tag("error", ErrorKinds.Of(e)));
                ExpireUnrenewable();
                await Delay(backoff, stop);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                continue;
            }
            await Delay(options.PollInterval, stop);
        }
        await ShutdownAsync();
    }

    async Task Delay(TimeSpan t, CancellationToken stop)
    {
        try { await _wake.WaitAsync(t, stop); } catch (OperationCanceledException) { }
    }

    // Per kind with free slots, one statement claims up to that many actors; true when something was claimed.
    async Task<bool> ClaimAsync(CancellationToken stop)
    {
        bool any = false;
        foreach (var (kind, slots) in options.Slots)
        {
            int free = slots - _active.Values.Count(a => a.Lease.Kind == kind);
            if (free <= 0) continue;
            foreach (var lease in await Timed("claim", () => store.ClaimAsync(options.Id, [kind], options.Lease, free, stop)))
            {
                Start(lease);
                any = true;
            }
        }
        return any;
    }

    void Start(ActorLease lease)
    {
        string work = Path.Combine(options.WorkDirectory, $"{Sanitize(lease.Key)}-e{lease.Epoch}");
        var a = new Activation(lease, DateTime.UtcNow + options.Lease);
        var ctx = new ActorContext(lease, options.Id, store, _blobs, work, _log);
        a.Context = ctx;
        _active[lease.Key] = a;
        Interlocked.Increment(ref _started);
        a.Task = Task.Run(() => RunActivationAsync(a, ctx));
    }

    async Task RunActivationAsync(Activation a, ActorContext ctx)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            Directory.CreateDirectory(ctx.WorkDirectory);
            var actor = actors(a.Lease.Kind);
            await actor.RunAsync(ctx, a.Cts.Token);
            if (!a.Cts.IsCancellationRequested && !ctx.Finished && IsOpen(await store.GetAsync(ctx.Key)))
                await FailAsync(ctx, "the actor returned without finishing (no terminal status committed)");
        }
        catch (OperationCanceledException) when (a.Cts.IsCancellationRequested) { }
        catch (LeaseLostException) { a.Lost = true; }
        catch (Exception e) when (IsTransient(e) && !a.Cts.IsCancellationRequested)
        {
            _log($"{ctx.Key}: {e.GetType().Name}: {e.Message}; handing the lease back to be retried");
            SaeClusterMetrics.Errors.Add(1, Tag("where", a.Lease.Kind), Tag("error", ErrorKinds.Of(e)));
            a.Release = true;
        }
        catch (Exception e) when (!a.Cts.IsCancellationRequested || e is ActorFailedException)
        {
            _log($"{ctx.Key}: failed: {e.Message}");
            SaeClusterMetrics.Errors.Add(1, Tag("where", a.Lease.Kind), Tag("error", ErrorKinds.Of(e)));
            await FailAsync(ctx, e.Message);
        }
        catch (Exception e)
        {
            _log($"{ctx.Key}: stopped with {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            if (a.Lost)
            {
                Interlocked.Increment(ref _leasesLost);
                SaeClusterMetrics.LeasesLost.Add(1, Tag("silo", options.Id), Tag("kind", a.Lease.Kind));
            }
            string outcome = a.Lost ? "lost" : a.Release ? "retry" : ctx.Status switch
            {
                ActorStatus.Done => "done", ActorStatus.Failed => "failed", ActorStatus.Cancelled => "cancelled",
                _ => a.ShuttingDown ? "shutdown" : "failed",
            };
            SaeClusterMetrics.Activations.Add(1, Tag("silo", options.Id), Tag("kind", a.Lease.Kind), Tag("outcome", outcome));
            if (a.Release) await Task.Delay(RetryPause);
            if (a.Release || (a.ShuttingDown && !a.Lost))
                try { await store.ReleaseAsync(ctx.Key, ctx.Epoch); } catch (Exception e) when (IsTransient(e)) { }
            _active.TryRemove(new KeyValuePair<string, Activation>(ctx.Key, a));
            try { if (Directory.Exists(ctx.WorkDirectory)) Directory.Delete(ctx.WorkDirectory, true); } catch (IOException) { }
            _log($"{ctx.Key}: activation ended after {sw.Elapsed.TotalSeconds:F1} s{(a.Lost ? " (lease lost)" : a.ShuttingDown ? " (silo shutting down)" : "")}");
            _wake.Release();
        }
    }

    /// <summary>How long a silo waits before handing back an actor that hit a transient failure (so it is not retried in a tight loop).</summary>
    public static TimeSpan RetryPause { get; set; } = TimeSpan.FromSeconds(2);

    static bool IsOpen(ActorRecord? r) => r is { Status: ActorStatus.Pending or ActorStatus.Running };

    async Task FailAsync(ActorContext ctx, string error)
    {
        try { await store.CommitAsync(ctx.Key, ctx.Epoch, ActorState.WithError(ctx.State, error), ActorStatus.Failed); }
        catch (Exception e) when (IsTransient(e)) { _log($"{ctx.Key}: could not record the failure ({e.Message})"); }
    }

    async Task RenewDueAsync(CancellationToken stop)
    {
        var renewEvery = options.Lease / 3;
        foreach (var a in _active.Values)
        {
            if (a.Cts.IsCancellationRequested || DateTime.UtcNow - a.LastRenew < renewEvery) continue;
            bool ok;
            try { ok = await Timed("renew", () => store.RenewAsync(a.Lease.Key, a.Lease.Epoch, options.Id, options.Lease, stop)); }
            catch (Exception e) when (IsTransient(e)) { ExpireUnrenewable(); throw; }
            if (ok) { a.LastRenew = DateTime.UtcNow; a.Expires = a.LastRenew + options.Lease; }
            else Stop(a, $"lease lost (epoch {a.Lease.Epoch} superseded or the actor was ended); stopping it");
        }
    }

    // While the store is unreachable no renewal succeeds: stop activations whose lease has run out by our clock.
    void ExpireUnrenewable()
    {
        foreach (var a in _active.Values)
            if (!a.Cts.IsCancellationRequested && DateTime.UtcNow >= a.Expires - TimeSpan.FromMilliseconds(options.Lease.TotalMilliseconds / 10))
                Stop(a, "lease expired while the cluster store was unreachable; stopping it");
    }

    // The lease is gone: the activation stops, and knows it need not try to save anything.
    void Stop(Activation a, string why)
    {
        a.Lost = true;
        if (a.Context != null) a.Context.LeaseLost = true;
        _log($"{a.Lease.Key}: {why}");
        a.Cts.Cancel();
    }

    async Task ShutdownAsync()
    {
        var running = _active.Values.ToArray();
        if (running.Length > 0) _log($"silo {options.Id} stopping: asking {running.Length} activation(s) to save and hand their leases back");
        foreach (var a in running) { a.ShuttingDown = true; a.Cts.Cancel(); }
        // keep the leases alive while activations save their checkpoints
        var all = Task.WhenAll(running.Select(a => a.Task!));
        var deadline = DateTime.UtcNow + options.ShutdownGrace;
        while (!all.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.WhenAny(all, Task.Delay(options.Lease / 3));
            foreach (var a in _active.Values)
                try { await store.RenewAsync(a.Lease.Key, a.Lease.Epoch, options.Id, options.Lease); } catch (Exception e) when (IsTransient(e)) { }
        }
        _log($"silo {options.Id} stopped");
    }

    static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    /// <summary>Times one cluster-store round trip of the runtime into /metrics (saecluster_lease_operation_duration_seconds).</summary>
    internal static async Task<T> Timed<T>(string operation, Func<Task<T>> call)
    {
        long start = Stopwatch.GetTimestamp();
        try { return await call(); }
        finally { SaeClusterMetrics.LeaseOperations.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, Tag("op", operation)); }
    }

    static Task Timed(string operation, Func<Task> call) => Timed(operation, async () => { await call(); return true; });

    /// <summary>Failures worth retrying: the stores or the network, not the input.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        ActorFailedException or BlobNotFoundException or FileNotFoundException or DirectoryNotFoundException => false,
        DbException or BlobStoreException or HttpRequestException or TimeoutException or IOException or System.Net.Sockets.SocketException => true,
        AggregateException ag => ag.InnerExceptions.All(IsTransient),
        _ => e.InnerException != null && IsTransient(e.InnerException),
    };

    static string Sanitize(string key) => string.Concat(key.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_'));

    sealed class Activation(ActorLease lease, DateTime expires)
    {
        public ActorLease Lease { get; } = lease;
        public DateTime Started { get; } = DateTime.UtcNow;
        public DateTime LastRenew { get; set; } = DateTime.UtcNow;
        public DateTime Expires { get; set; } = expires;
        public CancellationTokenSource Cts { get; } = new();
        public ActorContext? Context { get; set; }
        public Task? Task { get; set; }
        public volatile bool Lost, ShuttingDown, Release;
    }
}

/// <summary>An activation running on a silo.</summary>
public sealed record ActivationInfo(string Key, string Kind, long Epoch, DateTime Started);
