using System.Net;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// Placement by role on a real two-silo cluster (PostgreSQL membership and state, both silos in this
/// process): with a coordinator/producer silo and a trainer-only silo, every producer runs on the first and
/// every trainer on the second — whatever silo creates the activations.
/// </summary>
public sealed class PlacementTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    [Fact]
    public async Task ProducersAndTrainersRunOnlyOnSilosWithTheirRole()
    {
        using var dir = new TempDir();
        string db = await postgres.NewDatabaseAsync();
        await OrleansPostgresSchema.ApplyAsync(db);
        var blobs = new LocalBlobStore(dir["blobs"]);
        await blobs.InitializeAsync();
        var log = new List<string>();
        string id = "place-" + Guid.NewGuid().ToString("N")[..8];
        ClusterConfig Config(string name, string roles) => new()
        {
            Location = ClusterLocation.Postgres(db), ServiceId = id, ClusterId = id, SiloName = name, Roles = SiloRoles.Parse(roles),
            SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free(), AdvertisedAddress = IPAddress.Loopback,
            Work = new WorkOptions { WorkDirectory = dir[$"work-{name}"] },
            Sweeps = new SweepOptions { Tick = TimeSpan.FromMilliseconds(250) },
        };
        await using var a = await EmbeddedSilo.StartAsync(Config("place-a", "coordinator,producer"), blobs, l => { lock (log) log.Add("a " + l); });
        await using var b = await EmbeddedSilo.StartAsync(Config("place-b", "trainer"), blobs, l => { lock (log) log.Add("b " + l); });

        var spec = TinySweep.Spec(TinySweep.Yaml("placed"));
        await a.Sweeps.SubmitAsync(spec);
        var deadline = DateTime.UtcNow.AddSeconds(120);
        SweepStatus? status;
        while (!(status = await a.Sweeps.GetAsync("placed"))!.IsTerminal && DateTime.UtcNow < deadline) await Task.Delay(100);
        string[] lines;
        lock (log) lines = [.. log];
        Assert.True(status.State == "done", $"{status.State}: {status.Error}\n{string.Join('\n', lines)}");

        var work = await b.Sweeps.GetWorkAsync("placed"); // asked through the trainer silo: the sweep grain answers from the other
        var producers = work.Where(w => w.Kind == SiloRoles.Producer && w.Status == "done").ToArray();
        Assert.NotEmpty(producers);
        Assert.All(producers, p => Assert.Equal("place-a", p.Silo));
        Assert.All(work.Where(w => w.Kind == SiloRoles.Trainer), t => Assert.Equal(("done", "place-b"), (t.Status, t.Silo)));
        // the evaluations in the model run where the model is: on the producer silo
        var evaluators = work.Where(w => w.Kind == "evaluator").ToArray();
        Assert.Equal(2, evaluators.Length);
        Assert.All(evaluators, e => Assert.Equal(("done", "place-a"), (e.Status, e.Silo)));
        Assert.DoesNotContain(lines, l => l.StartsWith("a ") && l.Contains("SaeTrainerGrain") && l.Contains(".res: starting on"));
        Assert.DoesNotContain(lines, l => l.StartsWith("b ") && l.Contains("SaeEvaluatorGrain") && l.Contains(": starting on"));
        Assert.DoesNotContain(lines, l => l.StartsWith("b ") && l.Contains("placed/0") && l.Contains(": starting on") && !l.Contains(".res"));
        Assert.Contains(lines, l => l.StartsWith("b ") && l.Contains("placed/0.res: starting on place-b"));
    }
}
