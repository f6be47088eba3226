using SaeCluster.Grains;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// What every cluster store must do, run against each implementation (SQLite here; PostgreSQL with a
/// real server in its own fixture): one claim per actor at a time, epochs that fence stale writers,
/// capabilities, release, terminal states and membership.
/// </summary>
public abstract class ClusterStoreConformance
{
    protected readonly ManualClock Clock = new();
    protected abstract Task<IClusterStore> CreateStoreAsync();

    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AnActorIsCreatedOnce()
    {
        await using var s = await CreateStoreAsync();
        Assert.True(await s.CreateActorAsync("trainer/a/1.res", "trainer", null, "{}"));
        Assert.False(await s.CreateActorAsync("trainer/a/1.res", "trainer", null, "{\"x\":1}"));
        var r = await s.GetAsync("trainer/a/1.res");
        Assert.Equal(ActorStatus.Pending, r!.Status);
        Assert.Equal("{}", r.State);
        Assert.Equal(0, r.Epoch);
    }

    [Fact]
    public async Task ALeaseIsExclusiveUntilItLapsesAndTheOldOwnerIsFenced()
    {
        await using var s = await CreateStoreAsync();
        await s.CreateActorAsync("producer/a/0", "producer", null, "s0");
        var first = await s.TryClaimAsync("silo-1", [], Lease);
        Assert.NotNull(first);
        Assert.Equal(1, first.Value.Epoch);
        Assert.Null(await s.TryClaimAsync("silo-2", [], Lease));
        Assert.True(await s.RenewAsync("producer/a/0", 1, "silo-1", Lease));
        Assert.True(await s.CommitAsync("producer/a/0", 1, "s1", ActorStatus.Running));

        Clock.Advance(Lease + TimeSpan.FromSeconds(1)); // silo-1 stops renewing (paused, partitioned, killed)
        var second = await s.TryClaimAsync("silo-2", [], Lease);
        Assert.Equal(2, second!.Value.Epoch);
        Assert.Equal("s1", second.Value.State); // resumes from the last committed state

        // the stale activation wakes up: it can neither renew nor write
        Assert.False(await s.RenewAsync("producer/a/0", 1, "silo-1", Lease));
        Assert.False(await s.CommitAsync("producer/a/0", 1, "stale", ActorStatus.Done));
        Assert.Equal("s1", (await s.GetAsync("producer/a/0"))!.State);
        Assert.True(await s.CommitAsync("producer/a/0", 2, "s2", ActorStatus.Done));
        Assert.Null(await s.TryClaimAsync("silo-3", [], Lease)); // done actors are never claimed again
    }

    [Fact]
    public async Task CapabilitiesSteerClaims()
    {
        await using var s = await CreateStoreAsync();
        await s.CreateActorAsync("producer/a/0", "producer", "gpu", "");
        await s.CreateActorAsync("trainer/a/0.res", "trainer", null, "");
        var cpu = await s.TryClaimAsync("cpu-silo", ["cpu"], Lease);
        Assert.Equal("trainer/a/0.res", cpu!.Value.Key);
        Assert.Null(await s.TryClaimAsync("cpu-silo", ["cpu"], Lease));
        Assert.Equal("producer/a/0", (await s.TryClaimAsync("gpu-silo", ["gpu", "cpu"], Lease))!.Value.Key);
    }

    [Fact]
    public async Task ReleasedLeasesAreClaimableAtOnceWithANewEpoch()
    {
        await using var s = await CreateStoreAsync();
        await s.CreateActorAsync("trainer/b/3.mlp", "trainer", null, "");
        var a = await s.TryClaimAsync("silo-1", [], Lease);
        Assert.True(await s.ReleaseAsync(a!.Value.Key, a.Value.Epoch));
        Assert.False(await s.ReleaseAsync(a.Value.Key, a.Value.Epoch));
        var b = await s.TryClaimAsync("silo-2", [], Lease);
        Assert.Equal(a.Value.Epoch + 1, b!.Value.Epoch);
        Assert.Equal("silo-2", (await s.GetAsync(a.Value.Key))!.Owner);
    }

    [Fact]
    public async Task ConcurrentClaimersNeverShareAnActor()
    {
        await using var s = await CreateStoreAsync();
        for (int i = 0; i < 40; i++) await s.CreateActorAsync($"trainer/c/{i:D2}.res", "trainer", null, "");
        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var mine = new List<string>();
            while (await s.TryClaimAsync($"silo-{w}", [], Lease) is ActorLease l) mine.Add(l.Key);
            return mine;
        })));
        var all = claims.SelectMany(c => c).ToArray();
        Assert.Equal(40, all.Length);
        Assert.Equal(40, all.Distinct().Count());
        Assert.Equal(40, (await s.ListAsync("trainer/c/")).Count(r => r.Status == ActorStatus.Running));
        Assert.Empty(await s.ListAsync("trainer/d/"));
    }

    [Fact]
    public async Task EndingASweepFencesItsRunningActorsAndLeavesOthersAlone()
    {
        await using var s = await CreateStoreAsync();
        await s.CreateActorAsync("producer/a/0", "producer", null, "p");
        await s.CreateActorAsync("trainer/a/0.res", "trainer", null, "t");
        await s.CreateActorAsync("trainer/b/0.res", "trainer", null, "other sweep");
        var running = (await s.TryClaimAsync("silo-1", [], Lease))!.Value;
        Assert.Equal("producer/a/0", running.Key);
        Assert.True(await s.CommitAsync("trainer/a/0.res", 0, "done", ActorStatus.Done)); // already finished: stays Done
        await s.CreateActorAsync("trainer/a/1.res", "trainer", null, "t");

        Assert.Equal(1, await s.EndAllAsync("producer/a/", ActorStatus.Cancelled));
        Assert.Equal(1, await s.EndAllAsync("trainer/a/", ActorStatus.Cancelled));
        Assert.False(await s.RenewAsync(running.Key, running.Epoch, "silo-1", Lease));
        Assert.False(await s.CommitAsync(running.Key, running.Epoch, "late", ActorStatus.Running));
        var p = await s.GetAsync("producer/a/0");
        Assert.Equal((ActorStatus.Cancelled, "p", (string?)null), (p!.Status, p.State, p.Owner));
        Assert.Equal(ActorStatus.Done, (await s.GetAsync("trainer/a/0.res"))!.Status);
        Assert.Equal(ActorStatus.Cancelled, (await s.GetAsync("trainer/a/1.res"))!.Status);
        Assert.Equal(ActorStatus.Pending, (await s.GetAsync("trainer/b/0.res"))!.Status);
        Assert.Equal("trainer/b/0.res", (await s.TryClaimAsync("silo-2", [], Lease))!.Value.Key); // ended actors are never claimed

        Assert.Equal(3, await s.DeleteAllAsync("trainer/a/") + await s.DeleteAllAsync("producer/a/"));
        Assert.Null(await s.GetAsync("producer/a/0"));
        Assert.Single(await s.ListAsync("trainer/"));
        Assert.Single(await s.ListAsync("", kind: "trainer"));
        Assert.Empty(await s.ListAsync("", kind: "producer"));
    }

    [Fact]
    public async Task OneStatementClaimsSeveralActorsEachWithItsOwnEpoch()
    {
        await using var s = await CreateStoreAsync();
        for (int i = 0; i < 5; i++) await s.CreateActorAsync($"trainer/m/{i}", "trainer", "trainer", $"s{i}");
        await s.CreateActorAsync("producer/m/0", "producer", "producer", "p");
        var first = await s.ClaimAsync("silo-1", ["trainer"], Lease, 3);
        Assert.Equal(["trainer/m/0", "trainer/m/1", "trainer/m/2"], first.Select(l => l.Key));
        Assert.All(first, l => Assert.Equal(1, l.Epoch));
        Assert.Equal("s1", first[1].State);
        var rest = await s.ClaimAsync("silo-2", ["trainer"], Lease, 10);
        Assert.Equal(["trainer/m/3", "trainer/m/4"], rest.Select(l => l.Key));
        Assert.Empty(await s.ClaimAsync("silo-3", ["trainer"], Lease, 10));
        Assert.True(await s.RenewAsync("trainer/m/4", 1, "silo-2", Lease));
        Assert.False(await s.RenewAsync("trainer/m/4", 1, "silo-1", Lease));
    }

    [Fact]
    public async Task MembershipFollowsHeartbeats()
    {
        await using var s = await CreateStoreAsync();
        await s.HeartbeatAsync("silo-1", ["cpu"]);
        Clock.Advance(TimeSpan.FromSeconds(20));
        await s.HeartbeatAsync("silo-2", ["gpu", "cpu"]);
        var alive = await s.SilosAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["silo-2"], alive.Select(x => x.Id));
        Assert.Equal(["gpu", "cpu"], alive[0].Capabilities);
        Assert.Equal(2, (await s.SilosAsync(TimeSpan.FromMinutes(1))).Count);
    }
}

public sealed class SqliteClusterStoreTests : ClusterStoreConformance, IDisposable
{
    readonly TempDir _dir = new();

    protected override async Task<IClusterStore> CreateStoreAsync()
    {
        var s = new SqliteClusterStore(_dir["cluster.db"], Clock);
        await s.InitializeAsync();
        return s;
    }

    [Fact]
    public async Task TwoStoresOnOneFileSeeEachOther()
    {
        await using var a = await CreateStoreAsync();
        await using var b = await CreateStoreAsync(); // another process would open the same file
        await a.CreateActorAsync("coordinator/s1", "coordinator", null, "");
        Assert.Equal("coordinator/s1", (await b.TryClaimAsync("silo-b", [], TimeSpan.FromSeconds(5)))!.Value.Key);
        Assert.Null(await a.TryClaimAsync("silo-a", [], TimeSpan.FromSeconds(5)));
    }

    public void Dispose() => _dir.Dispose();
}
