using System.Collections.Concurrent;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// The actor runtime on a real SQLite store with test actors: leases are renewed while an actor runs
/// longer than its lease, a transient failure hands the actor back to be retried, a permanent one marks
/// it Failed, slots bound concurrency per kind, a lost lease stops the activation, and shutdown hands
/// leases back at once.
/// </summary>
public sealed class SiloRuntimeTests : IAsyncLifetime
{
    readonly TempDir _dir = new();
    SqliteClusterStore _store = null!;
    LocalBlobStore _blobs = null!;
    readonly ConcurrentDictionary<string, int> _attempts = new();
    readonly ConcurrentBag<string> _log = [];
    int _running, _maxRunning;

    public async Task InitializeAsync()
    {
        _store = new SqliteClusterStore(_dir["c.db"]);
        await _store.InitializeAsync();
        _blobs = new LocalBlobStore(_dir["blobs"]);
        SiloRuntime.RetryPause = TimeSpan.FromMilliseconds(50);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>state = "ms:behaviour": runs for ms then commits Done, or throws per behaviour (transient-once, fail, forever).</summary>
    sealed class TestActor(SiloRuntimeTests t) : IActor
    {
        public async Task RunAsync(ActorContext ctx, CancellationToken ct)
        {
            int attempt = t._attempts.AddOrUpdate(ctx.Key, 1, (_, n) => n + 1);
            int now = Interlocked.Increment(ref t._running);
            InterlockedMax(ref t._maxRunning, now);
            try
            {
                var parts = ctx.State.Split(':');
                await Task.Delay(int.Parse(parts[0]), ct);
                switch (parts[1])
                {
                    case "transient-once" when attempt == 1: throw new IOException("disk hiccup");
                    case "fail": throw new ActorFailedException("bad input: the model folder is empty");
                    case "forever": await Task.Delay(Timeout.Infinite, ct); break;
                }
                await ctx.CommitAsync(ctx.State, ActorStatus.Done, ct);
            }
            finally { Interlocked.Decrement(ref t._running); }
        }

        static void InterlockedMax(ref int target, int value)
        {
            int cur;
            while (value > (cur = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, cur) != cur) { }
        }
    }

    SiloRuntime Silo(string id, string slots, double leaseSeconds = 1) =>
        new(new SiloOptions(id, SiloOptions.ParseSlots(slots), _dir[id], TimeSpan.FromSeconds(leaseSeconds), TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(10)),
            _store, _blobs, _ => new TestActor(this), _log.Add);

    async Task<ActorRecord> WaitForAsync(string key, Func<ActorRecord, bool> until, double seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var r = (await _store.GetAsync(key))!;
            if (until(r)) return r;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{key}: {r}\n{string.Join('\n', _log)}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task LeasesAreRenewedWhileAnActorOutlivesThem()
    {
        // a 2 s lease renewed every 0.67 s: 1.3 s of slack for a loaded CI machine (with 1 s, a late renewal lost it)
        await _store.CreateActorAsync("a/long", ActorKinds.Trainer, ActorKinds.Trainer, "5000:ok");
        using var stop = new CancellationTokenSource();
        var silo = Task.Run(() => Silo("s1", "trainer=1", leaseSeconds: 2).RunAsync(stop.Token));
        var done = await WaitForAsync("a/long", r => r.Status == ActorStatus.Done);
        Assert.Equal(1, done.Epoch); // never re-claimed although it ran 2.5 leases
        Assert.Equal(1, _attempts["a/long"]);
        stop.Cancel(); await silo;
    }

    [Fact]
    public async Task TransientFailuresAreRetriedAndPermanentOnesFail()
    {
        await _store.CreateActorAsync("a/flaky", ActorKinds.Trainer, ActorKinds.Trainer, "10:transient-once");
        await _store.CreateActorAsync("a/bad", ActorKinds.Trainer, ActorKinds.Trainer, "10:fail");
        using var stop = new CancellationTokenSource();
        var silo = Task.Run(() => Silo("s1", "trainer=2").RunAsync(stop.Token));
        var flaky = await WaitForAsync("a/flaky", r => r.Status == ActorStatus.Done);
        Assert.Equal((2, 2L), (_attempts["a/flaky"], flaky.Epoch));
        var bad = await WaitForAsync("a/bad", r => r.Status == ActorStatus.Failed);
        Assert.Equal("bad input: the model folder is empty", (string?)ActorState.Parse(bad.State)["error"]);
        Assert.Equal(1, _attempts["a/bad"]);
        stop.Cancel(); await silo;
    }

    [Fact]
    public async Task SlotsBoundHowManyActorsOfAKindRunAtOnce()
    {
        for (int i = 0; i < 6; i++) await _store.CreateActorAsync($"a/t{i}", ActorKinds.Trainer, ActorKinds.Trainer, "150:ok");
        await _store.CreateActorAsync("a/p", ActorKinds.Producer, ActorKinds.Producer, "10:ok");
        using var stop = new CancellationTokenSource();
        var silo = Task.Run(() => Silo("s1", "trainer=2").RunAsync(stop.Token));
        for (int i = 0; i < 6; i++) await WaitForAsync($"a/t{i}", r => r.Status == ActorStatus.Done);
        Assert.Equal(2, _maxRunning);
        Assert.Equal(ActorStatus.Pending, (await _store.GetAsync("a/p"))!.Status); // no producer slot on this silo
        stop.Cancel(); await silo;
    }

    [Fact]
    public async Task ALostLeaseStopsTheActivationAndShutdownHandsLeasesBack()
    {
        await _store.CreateActorAsync("a/x", ActorKinds.Trainer, ActorKinds.Trainer, "0:forever");
        await _store.CreateActorAsync("a/y", ActorKinds.Trainer, ActorKinds.Trainer, "0:forever");
        using var stop = new CancellationTokenSource();
        var runtime = Silo("s1", "trainer=2", leaseSeconds: 3);
        var silo = Task.Run(() => runtime.RunAsync(stop.Token));
        await WaitForAsync("a/y", r => r.Owner == "s1");
        // both activations running on the silo (the claim is in the store a moment before the runtime starts them)
        var started = DateTime.UtcNow.AddSeconds(20);
        while (runtime.Activations.Count < 2 && DateTime.UtcNow < started) await Task.Delay(20);
        Assert.Equal(["a/x", "a/y"], runtime.Activations.Select(a => a.Key));
        await _store.EndAllAsync("a/x", ActorStatus.Cancelled); // fences a/x's epoch
        var deadline = DateTime.UtcNow.AddSeconds(20); // noticed at the next renewal (every lease/3)
        while (runtime.Activations.Any(a => a.Key == "a/x") && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.DoesNotContain(runtime.Activations, a => a.Key == "a/x");
        Assert.Equal(1, runtime.LeasesLost);

        stop.Cancel(); await silo;
        var y = (await _store.GetAsync("a/y"))!;
        Assert.Equal((ActorStatus.Running, (string?)null), (y.Status, y.Owner)); // handed back: claimable at once, not when the lease lapses
        Assert.Equal("a/y", (await _store.TryClaimAsync("s2", [ActorKinds.Trainer], TimeSpan.FromSeconds(5)))!.Value.Key);
    }
}
