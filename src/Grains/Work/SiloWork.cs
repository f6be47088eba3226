using System.Collections.Concurrent;

namespace SaeCluster.Grains;

/// <summary>
/// The producers and trainers running on this silo, and the slots that bound how many of each kind work
/// at once. Work beyond the slots waits, queued, and is let in by key order (producer 0 before producer 1,
/// so the shards trainers need first are made first). /api/silo and /metrics read this.
/// </summary>
public sealed class SiloWork
{
    readonly ConcurrentDictionary<string, LocalWork> _running = new();
    readonly Func<SiloStatus> _status;
    readonly Dictionary<string, Slots> _slots;
    long _started, _fenced;

    public SiloWork(string siloName, WorkOptions options, Func<SiloStatus>? status = null)
    {
        _status = status ?? (() => SiloStatus.Active);
        SiloName = siloName;
        Options = options;
        _slots = options.Slots.ToDictionary(kv => kv.Key, kv => new Slots(kv.Value));
    }

    public string SiloName { get; }
    public WorkOptions Options { get; }

    /// <summary>What runs (or waits for a slot) here now, by key.</summary>
    public IReadOnlyList<LocalWork> Activations => [.. _running.Values.OrderBy(a => a.Key, StringComparer.Ordinal)];

    /// <summary>Activations that started work here since the silo started.</summary>
    public long Started => Interlocked.Read(ref _started);

    /// <summary>Activations here that found themselves superseded by a newer one (an ETag conflict) or were ended by a cancel.</summary>
    public long Fenced => Interlocked.Read(ref _fenced);

    /// <summary>
    /// True while this silo is an active member of the cluster. A silo that finds itself declared dead (it
    /// froze, or was cut off, past failure detection) starts no new work in the moments before it stops.
    /// </summary>
    public bool IsActive => _status() == SiloStatus.Active;

    /// <summary>True once the membership has declared this silo dead (not merely shutting down).</summary>
    public bool IsDeclaredDead => _status() == SiloStatus.Dead;

    /// <summary>Activations of <paramref name="kind"/> holding a slot.</summary>
    public int Running(string kind) => _running.Values.Count(a => a.Kind == kind && a.HasSlot);

    public LocalWork Register(string key, string kind, long epoch)
    {
        var w = new LocalWork(key, kind, epoch, DateTimeOffset.UtcNow);
        _running[key] = w;
        Interlocked.Increment(ref _started);
        return w;
    }

    public void Unregister(LocalWork work) => _running.TryRemove(new KeyValuePair<string, LocalWork>(work.Key, work));

    public void CountFenced() => Interlocked.Increment(ref _fenced);

    /// <summary>Waits for a slot of <paramref name="kind"/> (lowest key first); dispose the result to give it back.</summary>
    public async Task<IDisposable> AcquireAsync(LocalWork work, CancellationToken ct)
    {
        if (!_slots.TryGetValue(work.Kind, out var slots)) throw new WorkFailedException($"this silo has no {work.Kind} slots");
        await slots.EnterAsync(work.Key, ct);
        work.HasSlot = true;
        return new Release(() => { work.HasSlot = false; slots.Leave(); });
    }

    sealed class Release(Action release) : IDisposable
    {
        int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) release(); }
    }

    // A counting semaphore whose waiters enter in key order.
    sealed class Slots(int count)
    {
        readonly Lock _gate = new();
        readonly SortedDictionary<(string Key, long Seq), TaskCompletionSource> _waiting = new();
        int _free = count;
        long _seq;

        public Task EnterAsync(string key, CancellationToken ct)
        {
            TaskCompletionSource tcs;
            (string, long) id;
            lock (_gate)
            {
                if (_free > 0 && _waiting.Count == 0) { _free--; return Task.CompletedTask; }
                tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                id = (key, _seq++);
                _waiting[id] = tcs;
            }
            var registration = ct.Register(() =>
            {
                bool removed;
                lock (_gate) removed = _waiting.Remove(id);
                if (removed) tcs.TrySetCanceled(ct);
            });
            return tcs.Task.ContinueWith(t => { registration.Dispose(); return t; }, TaskScheduler.Default).Unwrap();
        }

        public void Leave()
        {
            TaskCompletionSource? next = null;
            lock (_gate)
            {
                if (_waiting.Count > 0)
                {
                    var first = _waiting.First();
                    _waiting.Remove(first.Key);
                    next = first.Value;
                }
                else _free++;
            }
            next?.TrySetResult();
        }
    }
}

/// <summary>A producer or trainer activation on this silo: key, kind, the epoch it claimed, when, and whether it holds a slot yet.</summary>
public sealed class LocalWork(string key, string kind, long epoch, DateTimeOffset started)
{
    public string Key { get; } = key;
    public string Kind { get; } = kind;
    public long Epoch { get; } = epoch;
    public DateTimeOffset Started { get; } = started;
    public volatile bool HasSlot;
}
