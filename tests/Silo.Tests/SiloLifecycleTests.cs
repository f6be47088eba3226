using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SaeCluster.Grains;

namespace SaeCluster.Silo.Tests;

/// <summary>Start-up errors, API-only processes, drain, and graceful shutdown on SIGTERM, each with its own silo process.</summary>
[Collection("silo")]
public class SiloLifecycleTests
{
    [Fact]
    public async Task SigtermCheckpointsAndHandsTheWorkBack()
    {
        using var dir = new TempDir();
        var silo = await SiloProcess.StartAsync(dir.Path, null, "--cluster", dir["cluster"], "--blobs", dir["blobs"], "--id", "sigterm-silo", "--work-dir", dir["work"],
            "--data-root", SiloProcess.RepositoryRoot, "--slots", "producer=1,trainer=1");
        await using (silo)
        {
            using var http = silo.Http();
            var r = await http.PostAsync("/api/sweeps", new StringContent(Sweeps.Tiny("long", tokens: 4_000_000, layers: "[0]"), Encoding.UTF8, "text/yaml"));
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            await WaitForTrainingAsync(http, "long", silo);
            var running = (await http.GetFromJsonAsync<JsonObject>("/api/silo"))!["activations"]!.AsArray();
            Assert.Contains(running, a => (string)a!["key"]! == "long/0.res");

            Assert.True(await silo.TerminateAsync(TimeSpan.FromSeconds(30)), "no exit within 30 s of SIGTERM\n" + silo.Log);
            Assert.True(silo.ExitCode == 0, $"exit code {silo.ExitCode}\n{silo.Log}");
            Assert.Contains("silo sigterm-silo stopped", silo.Log);
        }
        // the trainer saved where it was, under its epoch, and said so; the checkpoint it named is in the blob store
        var handedBack = Regex.Match(silo.Log, @"long/0\.res: handed back at step (\d+)");
        Assert.True(handedBack.Success, silo.Log);
        long step = long.Parse(handedBack.Groups[1].Value);
        Assert.True(step > 0, silo.Log);
        Assert.True(File.Exists(Path.Combine(dir["blobs"], "long", "checkpoints", "0.res", $"e1-s{step:D9}", "trainer.json"))
            || Directory.EnumerateFiles(Path.Combine(dir["blobs"], "long", "checkpoints", "0.res", $"e1-s{step:D9}"), "*", SearchOption.AllDirectories).Any(),
            $"no checkpoint e1-s{step:D9} was written");

        // a silo started again on the same folder resumes it from that checkpoint
        await using var again = await SiloProcess.StartAsync(dir.Path, null, "--cluster", dir["cluster"], "--blobs", dir["blobs"], "--id", "sigterm-again", "--work-dir", dir["work"],
            "--data-root", SiloProcess.RepositoryRoot, "--slots", "producer=1,trainer=1");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!again.Log.Contains("long/0.res: resumed from long/checkpoints/0.res/e1-s") && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Contains($"long/0.res: resumed from long/checkpoints/0.res/e1-s{step:D9}/ at step {step}", again.Log);
    }

    static async Task WaitForTrainingAsync(HttpClient http, string sweep, SiloProcess silo)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var s = await http.GetFromJsonAsync<SweepStatus>($"/api/sweeps/{sweep}", SweepJson.Options);
            if (s!.Trainers.Any(t => t.Tokens > 0 && t.Phase == "training")) return;
            Assert.False(s.IsTerminal, $"{s.State}: {s.Error}");
            Assert.True(DateTime.UtcNow < deadline, "the trainer never started\n" + silo.Log);
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task DrainHandsTheWorkBackAndKeepsServing()
    {
        using var dir = new TempDir();
        await using var silo = await SiloProcess.StartAsync(dir.Path, "drain-token", "--cluster", dir["cluster"], "--blobs", dir["blobs"], "--id", "drain-silo", "--work-dir", dir["work"],
            "--data-root", SiloProcess.RepositoryRoot, "--slots", "producer=1,trainer=1");
        using var http = silo.Http();
        var r = await http.PostAsync("/api/sweeps", new StringContent(Sweeps.Tiny("drained", tokens: 4_000_000, layers: "[0]"), Encoding.UTF8, "text/yaml"));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        await WaitForTrainingAsync(http, "drained", silo);

        // what a pod's preStop hook runs: the same settings as the silo, from the environment
        var env = new Dictionary<string, string> { ["SAECLUSTER_URLS"] = silo.Url, ["SAECLUSTER_TOKEN"] = "drain-token" };
        var (code, output) = SiloProcess.RunToExitWithEnv(dir.Path, TimeSpan.FromSeconds(60), env, "drain");
        Assert.True(code == 0, output + "\n" + silo.Log);
        // the trainer, and the producers in flight then (a window of twice the producer slots)
        var drained = Regex.Match(output.Trim(), @"^drained http://127\.0\.0\.1:\d+/: (\d+) piece\(s\) of work handed back in \d+\.\d s$");
        Assert.True(drained.Success, output);
        Assert.InRange(int.Parse(drained.Groups[1].Value), 1, 3);

        // still serving: alive, not ready, running nothing; the trainer checkpointed and said so
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz/live")).StatusCode);
        var ready = await http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("drained", await ready.Content.ReadAsStringAsync());
        var me = (await http.GetFromJsonAsync<JsonObject>("/api/silo"))!;
        Assert.Empty(me["activations"]!.AsArray());
        Assert.True((bool)me["drained"]!);
        Assert.Matches(@"drained/0\.res: handed back at step \d+", silo.Log);
        Assert.True(Directory.EnumerateFiles(Path.Combine(dir["blobs"], "drained", "checkpoints"), "*", SearchOption.AllDirectories).Any(), "no checkpoint was written");
        // the grain API answers that this silo is out of the cluster
        var status = await http.GetAsync("/api/sweeps/drained");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status.StatusCode);
        Assert.Contains("drained", await status.Content.ReadAsStringAsync());

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
        // `db init` applies our schema (what a Kubernetes Job runs before the silos), twice without harm
        string fresh = await pg.NewDatabaseAsync();
        for (int i = 0; i < 2; i++)
        {
            var (initCode, initOutput) = SiloProcess.RunToExit(dir.Path, TimeSpan.FromSeconds(60), "db", "init", "--cluster", fresh);
            Assert.True(initCode == 0, initOutput);
            Assert.Contains("schema applied to Host=127.0.0.1", initOutput);
        }
        await using (var c = new Npgsql.NpgsqlConnection(fresh))
        {
            await c.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*) FROM OrleansQuery", c);
            Assert.True((long)(await cmd.ExecuteScalarAsync())! >= 20, "the query texts are missing");
        }

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
        var (code, output) = SiloProcess.RunToExit(dir.Path, TimeSpan.FromSeconds(30), "--cluster", db + ";Timeout=2", "--blobs", dir["blobs"]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: cannot open the cluster store", output.Trim());
    }

    [Fact]
    public async Task AnApiOnlyProcessServesTheClusterAsAnOrleansClient()
    {
        using var dir = new TempDir();
        int gateway = LoopbackPorts.Free();
        // the API process starts first and waits for a gateway (pods come up in any order)
        var api = SiloProcess.Launch(dir.Path, null, "--role", "api", "--cluster", dir["cluster"], "--blobs", dir["blobs"], "--gateway-port", gateway.ToString(),
            "--urls", "http://127.0.0.1:0", "--wait-seconds", "60", "--id", "api-1", "--data-root", SiloProcess.RepositoryRoot);
        await using var _ = api;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!api.Log.Contains("waiting for a gateway") && DateTime.UtcNow < deadline && !api.HasExited) await Task.Delay(100);
        Assert.Contains("waiting for a gateway", api.Log);

        await using var silo = await SiloProcess.StartAsync(dir.Path, null, "--cluster", dir["cluster"], "--blobs", dir["blobs"], "--gateway-port", gateway.ToString(),
            "--id", "worker-1", "--work-dir", dir["work"], "--data-root", SiloProcess.RepositoryRoot);
        string url = await api.ListeningAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await http.GetAsync("/healthz")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);

        var me = await http.GetFromJsonAsync<JsonObject>("/api/silo");
        Assert.True((bool)me!["apiOnly"]!);
        Assert.Empty(me["activations"]!.AsArray());
        var silos = await http.GetFromJsonAsync<JsonArray>("/api/silos");
        Assert.Equal(["worker-1"], silos!.Select(s => (string)s!["id"]!)); // the client is no silo
        Assert.Contains("API only (an Orleans client of the cluster)", api.Log);

        // a sweep submitted through the client runs on the silo
        var r = await http.PostAsync("/api/sweeps", new StringContent(Sweeps.Tiny("via-api", layers: "[0]"), Encoding.UTF8, "text/yaml"));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        SweepStatus? status;
        while (!(status = await http.GetFromJsonAsync<SweepStatus>("/api/sweeps/via-api", SweepJson.Options))!.IsTerminal && DateTime.UtcNow < deadline) await Task.Delay(250);
        Assert.True(status.State == "done", $"{status.State}: {status.Error}\n{silo.Log}");
        Assert.Equal("worker-1", Assert.Single(status.Trainers).Silo);
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

        // an unreachable blob store: exit 1 naming it, its key not shown, and no cluster folder left behind
        const string key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
        (code, output) = SiloProcess.RunToExit(dir.Path, timeout, "--cluster", dir["never"], "--blobs",
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;");
        Assert.Equal(1, code);
        Assert.StartsWith("error: cannot open the blob store azure://devstoreaccount1/saecluster: ", output.Trim());
        Assert.DoesNotContain(key, output);
        Assert.Single(output.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir["never"]), "a failed start left its cluster folder behind");

        // db init on a folder: there is no schema to apply
        (code, output) = SiloProcess.RunToExit(dir.Path, timeout, "db", "init", "--cluster", dir["c"]);
        Assert.Equal(2, code);
        Assert.Contains("is a folder, not PostgreSQL", output);

        // settings the user got wrong: exit 2
        foreach (var (args, message) in new (string[], string)[]
        {
            (["--cluster", "mysql://x/y"], "is neither a folder"),
            (["--slots", "trainer=0"], "count ≥ 1"),
            (["--slots", "gpu=1"], "'gpu' takes no slots"),
            (["--role", "gpu"], "unknown role 'gpu'"),
            (["--probe-seconds", "soon"], "--probe-seconds: 'soon'"),
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
