using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Npgsql;
using SaeCluster.Compute;
using SaeCluster.Grains;
using SaeCluster.Grains.Tests;
using Xunit.Abstractions;

namespace SaeCluster.Silo.Tests;

/// <summary>The real servers the reliability tests share: one throwaway PostgreSQL (a database per test) and one Azurite.</summary>
public sealed class ReliabilityServers : IAsyncLifetime
{
    public PostgresServer Postgres { get; } = new();
    public AzuriteServer Azurite { get; } = new();

    public async Task InitializeAsync()
    {
        await Postgres.InitializeAsync();
        await Azurite.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Azurite.DisposeAsync();
        await Postgres.DisposeAsync();
    }
}

/// <summary>
/// The cluster's promises under real failures, with real silo processes on Orleans over a real PostgreSQL
/// and real blob stores: a silo killed with SIGKILL mid-training is declared dead and its trainers resume
/// elsewhere from their last committed checkpoints, ending with exactly the weights of an uninterrupted
/// run; a silo frozen (SIGSTOP) past failure detection cannot publish anything when it wakes; two live
/// activations of one trainer (two clusters on one storage) leave only the newest one's work current; a
/// PostgreSQL restart and a flaky blob service are ridden out. Each sweep still finishes with every SAE
/// written. The membership settings are the silo's flags: a silo missing 2 probes of 2 s is dead.
/// </summary>
[Collection("silo")]
public sealed partial class ReliabilityTests(ReliabilityServers servers, ITestOutputHelper output) : IClassFixture<ReliabilityServers>
{
    const int Batch = 512, CheckpointEvery = 8;
    const long Tokens = 262_144;

    /// <summary>
    /// 2 res sites × 2 TopK SAEs. At 262,144 tokens a trainer takes 512 steps with a checkpoint every 8:
    /// 7–10 s on two cores, long enough to be interrupted mid-training.
    /// </summary>
    static string Sweep(string name, long tokens = Tokens) => TinySweep.Yaml(name, tokens, checkpointEvery: CheckpointEvery);

    [Fact]
    public async Task ASiloKilledMidTrainingIsTakenOverAndEndsWithTheWeightsOfAnUninterruptedRun()
    {
        await using var run = await Run.StartAsync(servers, "kill");
        await run.GuardAsync(async () =>
        {
            var silos = new[] { await run.StartSiloAsync("kill-a"), await run.StartSiloAsync("kill-b") };
            await run.WaitForAsync(async () => (await run.SilosAsync(silos[0])).Count == 2, "kill-b to join the cluster", TimeSpan.FromSeconds(60));
            // the reference: the same sweep under another name, uninterrupted
            await run.SubmitAsync(silos[0], "kill-ref");
            var reference = await run.WaitForSweepAsync(silos[0], "kill-ref", TimeSpan.FromSeconds(120));
            Assert.True(reference.State == "done", $"reference ended {reference.State}: {reference.Error}");

            await run.SubmitAsync(silos[0], "kill");
            // a trainer is training past its last checkpoint (so that "at most one interval is redone" has teeth): kill its silo
            static bool Training(WorkView t) => t.Status == "running" && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery && t.Tokens / Batch > t.CheckpointStep;
            var before = await run.WaitForTrainersAsync(silos[0], "kill", ts => ts.Any(Training), "a trainer training past a checkpoint", TimeSpan.FromSeconds(90));
            string victimSilo = before.First(Training).Silo!;
            var a = silos.Single(s => run.IdOf(s) == victimSilo);
            var b = silos.Single(s => s != a);
            string survivor = run.IdOf(b);
            run.Kill(a, 9);

            // what the killed silo had committed when it died, as PostgreSQL holds it
            var interrupted = new List<(string Key, JsonObject State)>();
            foreach (var t in before.Where(t => t.Silo == victimSilo))
                if (await run.StoredAsync("trainer", t.Key) is { } s && (int)s["Status"]! == (int)WorkStatus.Running && s["Checkpoint"] != null)
                    interrupted.Add((t.Key, s));
            Assert.True(interrupted.Count > 0, "no trainer was interrupted with a checkpoint: " + string.Join(", ", before));

            var status = await run.WaitForSweepAsync(b, "kill", TimeSpan.FromSeconds(120));
            Assert.True(status.State == "done", $"sweep ended {status.State}: {status.Error}");
            await run.AssertEverySaeWrittenAsync(status);
            Assert.Empty(await run.Blobs.ListAsync("kill/checkpoints/").ToListAsync()); // what A half-uploaded went with them

            foreach (var (key, stored) in interrupted)
            {
                var was = before.Single(x => x.Key == key);
                var resumed = ResumedLine().Matches(b.Log).Where(m => m.Groups[1].Value == key).ToArray();
                Assert.True(resumed.Length > 0, $"{key}: {survivor} never resumed it (checkpoint {stored["Checkpoint"]} at step {stored["CheckpointStep"]})");
                // B resumed from exactly what A committed last, at most one checkpoint interval behind what A had trained
                Assert.Equal((string)stored["Checkpoint"]!, resumed[0].Groups[2].Value);
                long step = long.Parse(resumed[0].Groups[3].Value);
                Assert.Equal((long)stored["CheckpointStep"]!, step);
                long stepAtKill = was.Tokens / Batch; // progress A reported before the kill (≤ the step it had reached)
                Assert.True(step >= stepAtKill - CheckpointEvery, $"{key}: resumed at step {step}, but step {stepAtKill} was trained before the kill");
                var final = (await run.StoredAsync("trainer", key))!;
                Assert.True((long)final["Epoch"]! > (long)stored["Epoch"]!, $"{key}: epoch {final["Epoch"]} after the takeover, {stored["Epoch"]} before");
                output.WriteLine($"{key}: at step ≥ {stepAtKill} (checkpoint {stored["CheckpointStep"]}) on {victimSilo} at SIGKILL; {survivor} resumed at step {step}, epoch {stored["Epoch"]} → {final["Epoch"]}");
            }
            // and the weights are bit for bit those of the uninterrupted run
            foreach (var t in status.Trainers)
                foreach (var sae in t.Saes)
                {
                    byte[] taken = await run.TensorBytesAsync(sae.Output!), uninterrupted = await run.TensorBytesAsync($"kill-ref/saes/{t.Site}/{sae.Name}/");
                    Assert.True(taken.AsSpan().SequenceEqual(uninterrupted), $"{t.Site}/{sae.Name}: the weights differ from the uninterrupted run's");
                }
        });
    }

    [Fact]
    public async Task AFrozenSiloCannotPublishWhenItWakesAndTheNewOwnersStateWins()
    {
        await using var run = await Run.StartAsync(servers, "fence");
        await run.GuardAsync(async () =>
        {
            var silos = new[] { await run.StartSiloAsync("fence-a"), await run.StartSiloAsync("fence-b") };
            await run.WaitForAsync(async () => (await run.SilosAsync(silos[0])).Count == 2, "fence-b to join the cluster", TimeSpan.FromSeconds(60));
            await run.SubmitAsync(silos[0], "fence");
            var ts = await run.WaitForTrainersAsync(silos[0], "fence", ts => ts.Any(t => t.Status == "running" && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery),
                "a trainer training with a checkpoint", TimeSpan.FromSeconds(90));
            var victim = ts.First(t => t.Status == "running" && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery);
            var a = silos.Single(s => run.IdOf(s) == victim.Silo);
            var b = silos.Single(s => s != a);
            string idA = run.IdOf(a), idB = run.IdOf(b);
            long epochA = victim.Epoch;

            run.Kill(a, 19); // SIGSTOP: A keeps its connections and its belief that it runs the trainer, but answers nothing
            // B declares A dead, and the trainer starts again on B under a newer epoch, from A's last checkpoint
            var taken = await run.WaitForStoredAsync("trainer", victim.Key, s => (string?)s["Silo"] == idB && (long)s["Epoch"]! > epochA,
                $"claimed by {idB}", TimeSpan.FromSeconds(90));
            long epochB = (long)taken["Epoch"]!;
            await run.WaitForAsync(() => Task.FromResult(b.Log.Contains($"{victim.Key}: resumed from ")), $"{idB} to resume {victim.Key}", TimeSpan.FromSeconds(30));
            Assert.Matches($@"{Regex.Escape(victim.Key)}: resumed from \S+/e{epochA}-s\d+/ at step", b.Log);
            var carried = await run.WaitForStoredAsync("trainer", victim.Key, s => ((string?)s["Checkpoint"])?.Contains($"/e{epochB}-s") == true,
                $"checkpointed by {idB}", TimeSpan.FromSeconds(60));
            Assert.True((long)carried["CheckpointStep"]! > victim.CheckpointStep, $"{idB}'s checkpoint is at step {carried["CheckpointStep"]}, {idA} had reached {victim.CheckpointStep}");

            run.Kill(a, 18); // SIGCONT: A wakes up declared dead: Orleans stops it, or its next write is refused
            await run.WaitForAsync(() => Task.FromResult(a.HasExited || a.Log.Contains($"{victim.Key}: fenced")),
                $"{idA} to stop or to find {victim.Key} fenced", TimeSpan.FromSeconds(60));
            var row = (await run.StoredAsync("trainer", victim.Key))!;
            Assert.True((long)row["Epoch"]! >= epochB, $"{victim.Key}: epoch went back to {row["Epoch"]} after {idA} woke");
            Assert.NotEqual(idA, (string?)row["Silo"]);

            var status = await run.WaitForSweepAsync(b, "fence", TimeSpan.FromSeconds(120));
            Assert.True(status.State == "done", $"sweep ended {status.State}: {status.Error}");
            await run.AssertEverySaeWrittenAsync(status);
            // the final state is the newest activation's: done, its epoch, its own last checkpoint; never the frozen one's
            var final = (await run.StoredAsync("trainer", victim.Key))!;
            long finalEpoch = (long)final["Epoch"]!;
            Assert.Equal((int)WorkStatus.Done, (int)final["Status"]!);
            Assert.True(finalEpoch >= epochB, $"final epoch {finalEpoch} < {epochB}");
            Assert.Contains($"/e{finalEpoch}-s", (string)final["Checkpoint"]!);
            Assert.Contains($"{victim.Key}: done: ", b.Log);
            Assert.DoesNotContain(a.Log.Split('\n'), l => l.Contains($"{victim.Key}: done: ") && l.Contains($"(epoch {epochA})"));
            output.WriteLine($"{victim.Key}: epoch {epochA} on {idA} (frozen), {epochB} on {idB}; {idA} after SIGCONT: {(a.HasExited ? $"exited ({a.ExitCode})" : "running, fenced")}");
            Assert.True(await b.TerminateAsync(TimeSpan.FromSeconds(30)), $"{idB} did not exit within 30 s of SIGTERM");
        });
    }

    [Fact]
    public async Task TwoLiveActivationsOfOneTrainerLeaveOnlyTheNewestOnesWorkCurrent()
    {
        // Orleans keeps one activation per grain within a cluster and only eventually across a membership change;
        // two clusters on one storage and ServiceId run two at once for sure — the split brain the fencing is for
        using var dir = new TempDir();
        string db = await servers.Postgres.NewDatabaseAsync();
        await OrleansPostgresSchema.ApplyAsync(db);
        var blobs = new LocalBlobStore(dir["blobs"]);
        await blobs.InitializeAsync();
        var logA = new List<string>();
        var logB = new List<string>();
        ClusterConfig Config(string cluster) => new()
        {
            Location = ClusterLocation.Postgres(db), ServiceId = "split", ClusterId = cluster, SiloName = cluster,
            SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free(), AdvertisedAddress = IPAddress.Loopback,
            Work = new WorkOptions { WorkDirectory = dir[$"work-{cluster}"], RetryPause = TimeSpan.FromMilliseconds(200) },
            Sweeps = new SweepOptions { Tick = TimeSpan.FromMilliseconds(250), ReminderPeriod = TimeSpan.FromMinutes(1) },
        };
        await using var a = await EmbeddedSilo.StartAsync(Config("split-a"), blobs, line => { lock (logA) logA.Add(line); });
        string key = "split/0.res";
        try
        {
            await a.Sweeps.SubmitAsync(TinySweep.Spec(Sweep("split").Replace("layers: [0, 1]", "layers: [0]")));
            await WaitAsync(async () => (await a.Sweeps.GetWorkAsync("split")).Any(w => w.Key == key && w.Phase == "training" && w.CheckpointStep >= CheckpointEvery),
                "the trainer training on split-a with a checkpoint", logA);

            // cluster B: its sweep activation pings the trainer, whose activation in B claims a newer epoch beside A's
            await using var b = await EmbeddedSilo.StartAsync(Config("split-b"), blobs, line => { lock (logB) logB.Add(line); });
            Assert.NotNull(await b.Sweeps.GetAsync("split"));
            await WaitAsync(() => Task.FromResult(Lines(logA).Any(l => l.Contains($"{key}: fenced"))), "split-a's trainer to find itself fenced", logA);
            var fenced = Lines(logA).First(l => l.Contains($"{key}: fenced"));
            // what the fenced activation uploaded for its next checkpoint it deleted: it never becomes current
            foreach (var l in Lines(logA).Where(l => l.Contains($"{key}: superseded: deleted its uncommitted checkpoint ")))
            {
                string prefix = l[(l.LastIndexOf(' ') + 1)..];
                Assert.Empty(await blobs.ListAsync(prefix).ToListAsync());
            }
            await a.StopAsync(); // only B drives the sweep from here

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            SweepStatus? status;
            while (!(status = await b.Sweeps.GetAsync("split"))!.IsTerminal && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.True(status.State == "done", $"{status.State}: {status.Error}\n{string.Join('\n', Lines(logB))}");
            foreach (var sae in Assert.Single(status.Trainers).Saes)
                Assert.True(File.Exists(Path.Combine(dir["blobs"], sae.Output!, "sae_weights.safetensors")), sae.Output);
            // the split-a activation never published: no "done" from it, and the trainer's final state is split-b's epoch
            Assert.DoesNotContain(Lines(logA), l => l.Contains($"{key}: done:"));
            Assert.Contains(Lines(logB), l => l.Contains($"{key}: done:"));
            long lastEpochB = Lines(logB).Where(l => l.Contains($"{key}: starting on split-b (epoch ")).Select(l => long.Parse(Regex.Match(l, @"epoch (\d+)").Groups[1].Value)).Max();
            Assert.Equal(lastEpochB, (await b.Sweeps.GetWorkAsync("split")).Single(w => w.Key == key).Epoch);
            Assert.Empty(await blobs.ListAsync("split/checkpoints/").ToListAsync());
            output.WriteLine($"split-a: {fenced}; split-b finished the trainer at epoch {lastEpochB}");
        }
        finally { output.WriteLine($"--- split-a ---\n{string.Join('\n', Lines(logA).TakeLast(40))}\n--- split-b ---\n{string.Join('\n', Lines(logB).TakeLast(40))}"); }
    }

    static string[] Lines(List<string> log) { lock (log) return [.. log]; }

    static async Task WaitAsync(Func<Task<bool>> condition, string what, List<string> log, double seconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"waited {seconds} s for {what}\n{string.Join('\n', Lines(log).TakeLast(60))}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task APostgresRestartMidSweepIsRiddenOut()
    {
        await using var run = await Run.StartAsync(servers, "pgrestart");
        await run.GuardAsync(async () =>
        {
            var s = await run.StartSiloAsync("pg-a");
            await run.SubmitAsync(s, "pgrestart");
            await run.WaitForTrainersAsync(s, "pgrestart", ts => ts.Any(t => t.Status == "running" && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery),
                "a trainer training with a checkpoint", TimeSpan.FromSeconds(60));

            run.StopPostgres();
            var down = Stopwatch.StartNew();
            using var http = s.Http();
            HttpStatusCode health = HttpStatusCode.OK;
            while (down.Elapsed < TimeSpan.FromSeconds(3) || health == HttpStatusCode.OK && down.Elapsed < TimeSpan.FromSeconds(15))
            {
                health = (await http.GetAsync("/healthz")).StatusCode;
                await Task.Delay(200);
            }
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health); // the outage is seen
            run.StartPostgres();
            var downFor = down.Elapsed;

            await run.WaitForAsync(async () => (await http.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, "/healthz to answer 200 again", TimeSpan.FromSeconds(60));
            var status = await run.WaitForSweepAsync(s, "pgrestart", TimeSpan.FromSeconds(120));
            Assert.True(status.State == "done", $"sweep ended {status.State}: {status.Error}");
            await run.AssertEverySaeWrittenAsync(status);
            output.WriteLine($"PostgreSQL down {downFor.TotalSeconds:F1} s; {ResumedLine().Count(s.Log)} trainer resume(s); {Regex.Count(s.Log, "store unavailable")} retried store failure(s)");
            Assert.True(await s.TerminateAsync(TimeSpan.FromSeconds(30)), "the silo did not exit within 30 s of SIGTERM");
        });
    }

    [Fact]
    public async Task ASweepCompletesThroughAFlakyBlobService()
    {
        // every 7th request fails before it reaches Azurite: 503 ServerBusy or a reset connection, in turn
        static ProxyFault Plan(ProxyRequest r) => r.Index % 7 != 6 ? ProxyFault.None : r.Index % 14 == 6 ? ProxyFault.ServiceUnavailable : ProxyFault.Drop;
        await using var proxy = new FaultProxy(servers.Azurite.Port, Plan);
        string container = "rel-" + Guid.NewGuid().ToString("N")[..12];
        await using var run = await Run.StartAsync(servers, "flaky", AzuriteServer.ConnectionStringFor(proxy.BlobEndpoint), container,
            direct: AzuriteServer.ConnectionStringFor(servers.Azurite.BlobEndpoint));
        await run.GuardAsync(async () =>
        {
            var s = await run.StartSiloAsync("flaky-a");
            await run.SubmitAsync(s, "flaky", tokens: 16_384);
            var status = await run.WaitForSweepAsync(s, "flaky", TimeSpan.FromSeconds(120));
            Assert.True(status.State == "done", $"sweep ended {status.State}: {status.Error}");
            await run.AssertEverySaeWrittenAsync(status); // read from Azurite directly, not through the proxy
            var requests = proxy.Requests;
            int faults = requests.Count(r => Plan(r) != ProxyFault.None);
            Assert.True(faults > 0, $"the proxy injected no faults ({requests.Count} requests)");
            Assert.Contains(requests, r => Plan(r) == ProxyFault.ServiceUnavailable);
            Assert.Contains(requests, r => Plan(r) == ProxyFault.Drop);
            Assert.Contains(requests, r => r.Method == "PUT" && r.Target.Contains("/saes/"));
            output.WriteLine($"{requests.Count} blob requests through the proxy, {faults} failed on purpose ({requests.Count(r => Plan(r) == ProxyFault.ServiceUnavailable)} × 503, {requests.Count(r => Plan(r) == ProxyFault.Drop)} × reset)");
            Assert.True(await s.TerminateAsync(TimeSpan.FromSeconds(30)), "the silo did not exit within 30 s of SIGTERM");
        });
    }

    [GeneratedRegex(@"(\S+/\d+\.\w+): resumed from (\S+) at step (\d+)")]
    private static partial Regex ResumedLine();

    /// <summary>
    /// One test's cluster: its own PostgreSQL database and blob store (a temp folder, or an Azure container),
    /// the silo processes it starts (each killed at the end, whatever happened), and reads of the grain
    /// state PostgreSQL holds.
    /// </summary>
    sealed class Run : IAsyncDisposable
    {
        readonly ReliabilityServers _servers;
        readonly List<(string Id, SiloProcess Silo, int Pid)> _silos = [];
        bool _postgresStopped;

        public TempDir Dir { get; } = new();
        public string Name { get; }
        public string Cluster { get; private set; } = "";
        public string BlobsArgument { get; }
        public string? Container { get; }
        /// <summary>The blob store as the test reads it (for Azure: Azurite directly, not through a fault proxy).</summary>
        public IBlobStore Blobs { get; }

        Run(ReliabilityServers servers, string name, string? blobs, string? container, string? direct)
        {
            _servers = servers;
            Name = name;
            BlobsArgument = blobs ?? Dir["blobs"];
            Container = container;
            Blobs = BlobStores.Open(direct ?? BlobsArgument, container);
        }

        public static async Task<Run> StartAsync(ReliabilityServers servers, string name, string? blobs = null, string? container = null, string? direct = null) =>
            new(servers, name, blobs, container, direct) { Cluster = await servers.Postgres.NewDatabaseAsync() };

        public async Task<SiloProcess> StartSiloAsync(string id)
        {
            string work = Dir[Path.Combine("work", id)];
            var args = new List<string>
            {
                "--cluster", Cluster, "--blobs", BlobsArgument, "--id", id, "--work-dir", work, "--data-root", SiloProcess.RepositoryRoot,
                "--slots", "producer=1,trainer=2", "--grace-seconds", "10", "--advertise", "127.0.0.1",
                "--probe-seconds", "2", "--missed-probes", "2", "--death-votes", "1", "--reminder-seconds", "2",
            };
            if (Container != null) args.AddRange(["--container", Container]);
            var silo = await SiloProcess.StartAsync(Dir.Path, null, [.. args]);
            int pid;
            try { pid = FindPid(work); }
            catch { await silo.DisposeAsync(); throw; }
            _silos.Add((id, silo, pid));
            return silo;
        }

        public string IdOf(SiloProcess silo) => _silos.Single(s => s.Silo == silo).Id;

        public async Task SubmitAsync(SiloProcess silo, string sweep, long tokens = Tokens)
        {
            using var http = silo.Http();
            var r = await http.PostAsync("/api/sweeps", new StringContent(Sweep(sweep, tokens), Encoding.UTF8, "text/yaml"));
            Assert.True(r.StatusCode == HttpStatusCode.Created, $"submit: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        }

        /// <summary>The sweep's trainers as its sweep grain reports them, through a silo's API.</summary>
        public async Task<IReadOnlyList<WorkView>> TrainersAsync(SiloProcess silo, string sweep)
        {
            using var http = silo.Http();
            var work = await http.GetFromJsonAsync<List<WorkView>>($"/api/sweeps/{sweep}/actors", SweepJson.Options);
            return [.. work!.Where(w => w.Kind == SiloRoles.Trainer)];
        }

        /// <summary>The active silos, as a silo's API lists them.</summary>
        public async Task<IReadOnlyList<JsonNode?>> SilosAsync(SiloProcess silo)
        {
            using var http = silo.Http();
            return [.. (await http.GetFromJsonAsync<JsonArray>("/api/silos"))!];
        }

        /// <summary>A grain's state as PostgreSQL holds it (what its activations committed), or null.</summary>
        public async Task<JsonObject?> StoredAsync(string stateName, string key)
        {
            await using var c = new NpgsqlConnection(Cluster);
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT convert_from(PayloadBinary, 'UTF8') FROM OrleansStorage WHERE GrainTypeString = @t AND GrainIdExtensionString = @k AND PayloadBinary IS NOT NULL", c);
            cmd.Parameters.AddWithValue("t", stateName);
            cmd.Parameters.AddWithValue("k", key);
            return await cmd.ExecuteScalarAsync() is string json ? JsonNode.Parse(json)!.AsObject() : null;
        }

        public async Task<JsonObject> WaitForStoredAsync(string stateName, string key, Func<JsonObject, bool> until, string what, TimeSpan timeout)
        {
            JsonObject? last = null;
            await WaitForAsync(async () => (last = await StoredAsync(stateName, key)) is { } s && until(s), $"{key} {what}", timeout, () => $"{last}");
            return last!;
        }

        /// <summary>Polls the trainers until <paramref name="until"/> holds (an unavailable silo counts as "not yet").</summary>
        public async Task<IReadOnlyList<WorkView>> WaitForTrainersAsync(SiloProcess silo, string sweep, Func<IReadOnlyList<WorkView>, bool> until, string what, TimeSpan timeout)
        {
            IReadOnlyList<WorkView> last = [];
            await WaitForAsync(async () => until(last = await TrainersAsync(silo, sweep)), what, timeout, () => string.Join("\n", last));
            return last;
        }

        public async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, Func<string>? detail = null)
        {
            var deadline = DateTime.UtcNow + timeout;
            Exception? error = null;
            while (true)
            {
                try
                {
                    if (await condition()) return;
                    error = null;
                }
                catch (Exception e) when (e is not Xunit.Sdk.XunitException) { error = e; }
                if (DateTime.UtcNow > deadline)
                    Assert.Fail($"waited {timeout.TotalSeconds:F0} s for {what}{(error != null ? $" (last error: {error.Message})" : "")}\n{detail?.Invoke()}");
                await Task.Delay(50);
            }
        }

        /// <summary>Polls GET /api/sweeps/{id} on <paramref name="silo"/> until the sweep ends (an unavailable cluster counts as "not yet").</summary>
        public async Task<SweepStatus> WaitForSweepAsync(SiloProcess silo, string sweep, TimeSpan timeout)
        {
            using var http = silo.Http();
            SweepStatus? status = null;
            await WaitForAsync(async () =>
            {
                var r = await http.GetAsync($"/api/sweeps/{sweep}");
                if (!r.IsSuccessStatusCode) return false;
                status = await r.Content.ReadFromJsonAsync<SweepStatus>(SweepJson.Options);
                return status!.IsTerminal;
            }, $"sweep {sweep} to end", timeout, () => JsonSerializer.Serialize(status, SweepJson.Options));
            return status!;
        }

        /// <summary>Both sites are done and every one of their SAEs has its weights and config in the blob store.</summary>
        public async Task AssertEverySaeWrittenAsync(SweepStatus status)
        {
            Assert.Equal(["0.res", "1.res"], status.Trainers.Select(t => t.Site).Order(StringComparer.Ordinal));
            foreach (var t in status.Trainers)
            {
                Assert.Equal("done", t.State);
                Assert.Equal(["topk-w64-k4", "topk-w64-k8"], t.Saes.Select(x => x.Name).Order(StringComparer.Ordinal));
                foreach (var sae in t.Saes)
                {
                    Assert.False(string.IsNullOrEmpty(sae.Output), $"{t.Site}/{sae.Name} has no output");
                    foreach (string file in new[] { "sae_weights.safetensors", "cfg.json", "metrics.json" })
                        Assert.True(await Blobs.GetSizeAsync(sae.Output + file) > 0, $"{Blobs.Location}/{sae.Output}{file} is missing");
                }
            }
        }

        /// <summary>Every tensor's bytes of an SAE's weights (the header names the run and may differ).</summary>
        public async Task<byte[]> TensorBytesAsync(string saePrefix)
        {
            string path = Dir[$"tensors-{Guid.NewGuid():N}.safetensors"];
            await Blobs.DownloadToFileAsync(saePrefix + "sae_weights.safetensors", path);
            using var f = SafetensorsFile.Open(path);
            return [.. f.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => f.Bytes(t.Name).ToArray())];
        }

        /// <summary>Sends a signal to a silo process: 9 (SIGKILL, and waits for it to be gone), 19 (SIGSTOP), 18 (SIGCONT).</summary>
        public void Kill(SiloProcess silo, int signal)
        {
            int pid = _silos.Single(s => s.Silo == silo).Pid;
            Assert.True(ProcessSignals.TrySend(pid, signal, out string error), error);
            if (signal != 9) return;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!silo.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(20);
            Assert.True(silo.HasExited, $"pid {pid} still runs 10 s after SIGKILL");
            Assert.Equal(137, silo.ExitCode); // 128 + SIGKILL: it did not get to shut down
        }

        public void StopPostgres()
        {
            _postgresStopped = true;
            _servers.Postgres.Stop();
        }

        public void StartPostgres()
        {
            _servers.Postgres.Start();
            _postgresStopped = false;
        }

        // SiloProcess runs `dotnet saecluster-silo.dll …` as our child; its --work-dir is unique to the silo
        static int FindPid(string workDirectory)
        {
            int me = Environment.ProcessId;
            foreach (string dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
                try
                {
                    string[] args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                    int at = Array.IndexOf(args, "--work-dir");
                    if (at < 0 || at + 1 >= args.Length || args[at + 1] != workDirectory) continue;
                    string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    int parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
                    if (parent == me) return pid;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            throw new InvalidOperationException($"no child process runs with --work-dir {workDirectory}");
        }

        /// <summary>All silos' output, for failure messages.</summary>
        public string Logs => string.Join("\n", _silos.Select(s => $"----- silo {s.Id} (pid {s.Pid}) -----\n{Tail(s.Silo.Log, 300)}"));

        static string Tail(string log, int lines)
        {
            var all = log.Split('\n');
            return all.Length <= lines ? log : $"[{all.Length - lines} earlier lines left out]\n" + string.Join('\n', all[^lines..]);
        }

        /// <summary>Runs the test body; a failure carries every silo's log.</summary>
        public async Task GuardAsync(Func<Task> body)
        {
            try { await body(); }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"{e.GetType().Name}: {e.Message}\n{Logs}\n----- end of silo logs -----\n{e.StackTrace}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_postgresStopped) try { StartPostgres(); } catch (InvalidOperationException) { }
            foreach (var (_, silo, pid) in _silos)
            {
                if (silo.HasExited) { await silo.DisposeAsync(); continue; }
                ProcessSignals.TrySend(pid, ProcessSignals.SigCont, out _); // a frozen silo cannot act on SIGTERM
                ProcessSignals.TrySend(pid, ProcessSignals.SigKill, out _);
                for (int i = 0; i < 500 && !silo.HasExited; i++) await Task.Delay(20);
                await silo.DisposeAsync();
            }
            Dir.Dispose();
        }
    }
}
