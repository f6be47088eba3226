using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SaeCluster.Grains;

namespace SaeCluster.Silo.Tests;

/// <summary>Start-up errors, API-only silos, and graceful shutdown on SIGTERM, each with its own silo process.</summary>
[Collection("silo")]
public class SiloLifecycleTests
{
    [Fact]
    public async Task SigtermCheckpointsAndHandsTheLeasesBack()
    {
        using var dir = new TempDir();
        string db = dir["cluster.db"];
        // a 30 s lease: had the silo not handed its leases back, they would still be held when it has exited
        var silo = await SiloProcess.StartAsync(dir.Path, null, "--cluster", db, "--blobs", dir["blobs"], "--id", "sigterm-silo", "--work-dir", dir["work"],
            "--data-root", SiloProcess.RepositoryRoot, "--lease-seconds", "30", "--slots", "coordinator=1,producer=1,trainer=1");
        await using (silo)
        {
            using var http = silo.Http();
            var r = await http.PostAsync("/api/sweeps", new StringContent(Sweeps.Tiny("long", tokens: 4_000_000, layers: "[0]"), Encoding.UTF8, "text/yaml"));
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);

            // wait until the trainer is training, so there is something to checkpoint
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                var s = await http.GetFromJsonAsync<SweepStatus>("/api/sweeps/long", SweepJson.Options);
                if (s!.Trainers.Any(t => t.Tokens > 0)) break;
                Assert.False(s.IsTerminal, $"{s.State}: {s.Error}");
                Assert.True(DateTime.UtcNow < deadline, "the trainer never started\n" + silo.Log);
                await Task.Delay(200);
            }
            var running = (await http.GetFromJsonAsync<JsonObject>("/api/silo"))!["activations"]!.AsArray();
            Assert.Contains(running, a => ((string)a!["key"]!).Contains("/trainer/"));

            Assert.True(await silo.TerminateAsync(TimeSpan.FromSeconds(30)), "no exit within 30 s of SIGTERM\n" + silo.Log);
            Assert.True(silo.ExitCode == 0, $"exit code {silo.ExitCode}\n{silo.Log}");
            Assert.Contains("silo sigterm-silo stopped", silo.Log);
        }

        await using var store = new SqliteClusterStore(db);
        var actors = await store.ListAsync("sweep/long/");
        Assert.NotEmpty(actors);
        Assert.All(actors, a => Assert.True(a.Owner == null, $"{a.Key} is still leased to {a.Owner} (status {a.Status})"));
        var trainer = actors.Single(a => a.Kind == ActorKinds.Trainer);
        Assert.Equal(ActorStatus.Running, trainer.Status); // unfinished, claimable at once by another silo
        Assert.True(Directory.EnumerateFiles(Path.Combine(dir["blobs"], "long", "checkpoints"), "*", SearchOption.AllDirectories).Any(), "no checkpoint was written");
    }

    [Fact]
    public async Task DrainHandsTheLeasesBackAndKeepsServing()
    {
        using var dir = new TempDir();
        string db = dir["cluster.db"];
        await using var silo = await SiloProcess.StartAsync(dir.Path, "drain-token", "--cluster", db, "--blobs", dir["blobs"], "--id", "drain-silo", "--work-dir", dir["work"],
            "--data-root", SiloProcess.RepositoryRoot, "--lease-seconds", "30", "--slots", "coordinator=1,producer=1,trainer=1");
        using var http = silo.Http();
        var r = await http.PostAsync("/api/sweeps", new StringContent(Sweeps.Tiny("drained", tokens: 4_000_000, layers: "[0]"), Encoding.UTF8, "text/yaml"));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await http.GetFromJsonAsync<SweepStatus>("/api/sweeps/drained", SweepJson.Options))!.Trainers.Any(t => t.Tokens > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, "the trainer never started\n" + silo.Log);
            await Task.Delay(200);
        }

        // what a pod's preStop hook runs: the same settings as the silo, from the environment
        var env = new Dictionary<string, string> { ["SAECLUSTER_URLS"] = silo.Url, ["SAECLUSTER_TOKEN"] = "drain-token" };
        var (code, output) = SiloProcess.RunToExitWithEnv(dir.Path, TimeSpan.FromSeconds(60), env, "drain");
        Assert.True(code == 0, output + "\n" + silo.Log);
        Assert.Matches(@"^drained http://127\.0\.0\.1:\d+/: [23] lease\(s\) handed back in \d+\.\d s$", output.Trim());

        // still serving: alive, not ready, running nothing; every lease back in the store, a checkpoint written
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz/live")).StatusCode);
        var ready = await http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("drained", await ready.Content.ReadAsStringAsync());
        Assert.Empty((await http.GetFromJsonAsync<JsonObject>("/api/silo"))!["activations"]!.AsArray());
        await using (var store = new SqliteClusterStore(db))
            Assert.All(await store.ListAsync("sweep/drained/"), a => Assert.True(a.Owner == null, $"{a.Key} is still leased to {a.Owner}"));
        Assert.True(Directory.EnumerateFiles(Path.Combine(dir["blobs"], "drained", "checkpoints"), "*", SearchOption.AllDirectories).Any(), "no checkpoint was written");

        // a wrong token is refused, and SIGTERM afterwards exits at once and cleanly
        env["SAECLUSTER_TOKEN"] = "wrong";
        (code, output) = SiloProcess.RunToExitWithEnv(dir.Path, TimeSpan.FromSeconds(30), env, "drain");
        Assert.Equal(1, code);
        Assert.Contains("401", output);
        Assert.True(await silo.TerminateAsync(TimeSpan.FromSeconds(10)), "no exit within 10 s of SIGTERM after a drain\n" + silo.Log);
        Assert.Equal(0, silo.ExitCode);
    }

    [Fact]
    public async Task WithWaitSecondsStartUpWaitsForADatabaseThatIsStillStarting()
    {
        using var dir = new TempDir();
        var pg = new Grains.Tests.PostgresServer();
        await pg.InitializeAsync();
        try { await WaitsForTheDatabaseAsync(dir, pg); }
        finally { await pg.DisposeAsync(); }
    }

    static async Task WaitsForTheDatabaseAsync(TempDir dir, Grains.Tests.PostgresServer pg)
    {
        string db = await pg.NewDatabaseAsync();
        pg.Stop(); // the database pod is not up yet

        var silo = SiloProcess.Launch(dir.Path, null, "--cluster", db + ";Timeout=2", "--blobs", dir["blobs"], "--id", "waiting-silo",
            "--work-dir", dir["work"], "--urls", "http://127.0.0.1:0", "--wait-seconds", "60");
        await using (silo)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!silo.Log.Contains("waiting for the cluster store") && DateTime.UtcNow < deadline) await Task.Delay(100);
            Assert.Contains("retrying for", silo.Log);
            Assert.False(silo.HasExited, silo.Log);

            pg.Start();
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!silo.Log.Contains("Now listening on") && DateTime.UtcNow < deadline && !silo.HasExited) await Task.Delay(100);
            Assert.True(silo.Log.Contains("Now listening on"), silo.Log);
            Assert.True(await silo.TerminateAsync(TimeSpan.FromSeconds(20)), silo.Log);
            Assert.Equal(0, silo.ExitCode);
        }

        // without --wait-seconds the same outage fails at once, as before
        pg.Stop();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var (code, output) = SiloProcess.RunToExit(dir.Path, TimeSpan.FromSeconds(30), "--cluster", db + ";Timeout=2", "--blobs", dir["blobs"]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: cannot open the cluster store", output.Trim());
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task AnApiOnlySiloServesWithoutRunningActors()
    {
        using var dir = new TempDir();
        await using var silo = await SiloProcess.StartAsync(dir.Path, null, "--cluster", dir["c.db"], "--blobs", dir["blobs"], "--slots", "none", "--work-dir", dir["work"]);
        using var http = silo.Http();
        var me = await http.GetFromJsonAsync<JsonObject>("/api/silo");
        Assert.True((bool)me!["apiOnly"]!);
        Assert.Empty(me["activations"]!.AsArray());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/sweeps")).StatusCode); // no token configured: open
        Assert.Contains("API-only silo", silo.Log);
    }

    [Fact]
    public void StartUpErrorsAreOneLine()
    {
        using var dir = new TempDir();
        var timeout = TimeSpan.FromSeconds(30);

        // an unreachable PostgreSQL: exit 1, the store named with its password masked, no stack trace
        var (code, output) = SiloProcess.RunToExit(dir.Path, timeout, "--cluster", "postgres://saec:s3cret-pw@127.0.0.1:9/cluster", "--blobs", dir["blobs"]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: cannot open the cluster store postgres://saec:***@127.0.0.1:9/cluster: ", output.Trim());
        Assert.DoesNotContain("s3cret-pw", output);
        Assert.Single(output.Trim().Split('\n'));

        (code, output) = SiloProcess.RunToExit(dir.Path, timeout, "--cluster", "Host=127.0.0.1;Port=9;Username=u;Password=s3cret-pw;Database=d;Timeout=3", "--blobs", dir["blobs"]);
        Assert.Equal(1, code);
        Assert.Contains("Password=***", output);
        Assert.DoesNotContain("s3cret-pw", output);
        Assert.Single(output.Trim().Split('\n'));

        // settings the user got wrong: exit 2
        foreach (var (args, message) in new (string[], string)[]
        {
            (["--cluster", "mysql://x/y"], "is neither sqlite:PATH"),
            (["--slots", "trainer=0"], "--slots none"),
            (["--slots", "gpu=1"], "unknown actor kind 'gpu'"),
            (["--lease-seconds", "soon"], "--lease-seconds: 'soon'"),
            (["--frobnicate", "1"], "unknown argument '--frobnicate'"),
            (["--blobs", "ftp://host/x"], "blob store location"),
        })
        {
            (code, output) = SiloProcess.RunToExit(dir.Path, timeout, [.. args, "--id", "x"]);
            Assert.True(code == 2, $"{string.Join(' ', args)} → {code}: {output}");
            Assert.Contains(message, output);
            Assert.StartsWith("error: ", output.Trim());
        }
    }
}
