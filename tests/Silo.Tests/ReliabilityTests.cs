using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
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
/// The cluster's promises under real failures, with real silo processes on a real PostgreSQL and real blob
/// stores: a silo killed with SIGKILL mid-training is taken over and its trainers resume from their last
/// committed checkpoints; a silo frozen (SIGSTOP) past its lease is fenced when it wakes and cannot commit
/// over the silo that took its actors; a PostgreSQL restart and a flaky blob service are ridden out. Each
/// sweep must still finish with every SAE written.
/// </summary>
public sealed partial class ReliabilityTests(ReliabilityServers servers, ITestOutputHelper output) : IClassFixture<ReliabilityServers>
{
    const int Batch = 512, CheckpointEvery = 8;
    const long Tokens = 262_144;
    const string LeaseSeconds = "3";

    /// <summary>
    /// 2 res sites × 2 TopK SAEs (the tiny sweep the in-process runtime tests use). At 262,144 tokens a
    /// trainer takes 512 steps with a checkpoint every 8: 7–10 s on two cores, long enough to be
    /// interrupted mid-training.
    /// </summary>
    static string Sweep(string name, long tokens = Tokens) => TinySweep.Yaml(name, tokens, checkpointEvery: CheckpointEvery);

    [Fact]
    public async Task ASiloKilledMidTrainingIsTakenOverAndItsTrainersResumeFromTheirCheckpoints()
    {
        await using var run = await Run.StartAsync(servers, "kill");
        await run.GuardAsync(async () =>
        {
            var a = await run.StartSiloAsync("kill-a");
            await run.SubmitAsync(a, "kill");

            // a trainer of A is training and has committed at least one checkpoint; preferably caught between two
            // checkpoints (progress committed past the last one), so that "at most one interval is redone" has teeth
            static bool Training(TrainerRow t) => t.Owner == "kill-a" && t.Status == ActorStatus.Running && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery;
            Stopwatch? eligible = null;
            var before = await run.WaitForTrainersAsync("kill", ts =>
            {
                if (!ts.Any(Training)) return false;
                eligible ??= Stopwatch.StartNew();
                return ts.Any(t => Training(t) && t.Step > t.CheckpointStep) || eligible.Elapsed > TimeSpan.FromSeconds(2);
            }, "a trainer training on kill-a with a checkpoint", TimeSpan.FromSeconds(60));
            run.Kill(a, 9);
            var after = await run.TrainersAsync("kill"); // what A managed to commit before it died
            var interrupted = after.Where(t => t.Status == ActorStatus.Running && t.Checkpoint != null).ToArray();
            Assert.True(interrupted.Length > 0, "no trainer was interrupted with a checkpoint: " + string.Join(", ", after));
            Assert.All(interrupted, t => Assert.Equal("kill-a", t.Owner)); // still leased to the dead silo

            var b = await run.StartSiloAsync("kill-b");
            var status = await run.WaitForSweepAsync(b, "kill", TimeSpan.FromSeconds(90));
            Assert.True(status.State == "done", $"sweep ended {status.State}: {status.Error}");
            await run.AssertEverySaeWrittenAsync(status);
            // whatever A had half-uploaded when it died is gone with the checkpoints once the sites are done
            Assert.Empty(await run.Blobs.ListAsync("kill/checkpoints/").ToListAsync());

            foreach (var t in interrupted)
            {
                var was = before.Single(x => x.Key == t.Key);
                var resumed = ResumedLine().Matches(b.Log).Where(m => m.Groups[1].Value == t.Key).ToArray();
                Assert.True(resumed.Length > 0, $"{t.Key}: kill-b never resumed it (checkpoint {t.Checkpoint} at step {t.CheckpointStep})");
                string prefix = resumed[0].Groups[2].Value;
                long step = long.Parse(resumed[0].Groups[3].Value);
                // B resumed from exactly what A committed last, which is no older than what was seen before the kill
                Assert.Equal(t.Checkpoint, prefix);
                Assert.Equal(t.CheckpointStep, step);
                Assert.True(step >= was.CheckpointStep, $"{t.Key}: resumed at step {step} < checkpoint step {was.CheckpointStep} seen before the kill");
                // at most one checkpoint interval is trained again: the progress committed before the kill (≤ the real step) minus one interval
                long stepAtKill = Math.Max(was.Step, was.Tokens / Batch);
                Assert.True(step >= stepAtKill - CheckpointEvery, $"{t.Key}: resumed at step {step}, but {was.Tokens} tokens (step {stepAtKill}) were trained before the kill");
                var final = await run.TrainerAsync(t.Key);
                Assert.True(final.Epoch > t.Epoch, $"{t.Key}: epoch {final.Epoch} after the takeover, {t.Epoch} before");
                output.WriteLine($"{t.Key}: seen at step {was.Step} (checkpoint {was.CheckpointStep}) before SIGKILL, committed checkpoint {t.CheckpointStep}; kill-b resumed at step {step}, epoch {t.Epoch} → {final.Epoch}");
            }
        });
    }

    [Fact]
    public async Task AFrozenSiloIsFencedWhenItWakesAndTheNewOwnersStateWins()
    {
        await using var run = await Run.StartAsync(servers, "fence");
        await run.GuardAsync(async () =>
        {
            var a = await run.StartSiloAsync("fence-a");
            await run.SubmitAsync(a, "fence");
            var ts = await run.WaitForTrainersAsync("fence", ts => ts.Any(t => t.Owner == "fence-a" && t.Status == ActorStatus.Running && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery),
                "a trainer training on fence-a with a checkpoint", TimeSpan.FromSeconds(60));
            var victim = ts.First(t => t.Owner == "fence-a" && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery);
            long epochA = victim.Epoch;

            run.Kill(a, 19); // SIGSTOP: A keeps its connections and its belief that it owns the trainer, but renews nothing
            var frozenAt = Stopwatch.StartNew();
            var b = await run.StartSiloAsync("fence-b");
            var taken = await run.WaitForTrainerAsync(victim.Key, t => t.Owner == "fence-b" && t.Epoch > epochA, "claimed by fence-b", TimeSpan.FromSeconds(30));
            long epochB = taken.Epoch;
            var claimedAfter = frozenAt.Elapsed;
            // not before A's lease ran out (it renewed every third of the 3 s lease until it froze)
            Assert.True(claimedAfter >= TimeSpan.FromSeconds(1.5), $"fence-b took {victim.Key} {claimedAfter.TotalSeconds:F1} s after fence-a froze, within its lease");
            // B carries on from A's last checkpoint and commits checkpoints of its own (under its epoch)
            await run.WaitForAsync(() => Task.FromResult(b.Log.Contains($"{victim.Key}: resumed from ")), $"fence-b to resume {victim.Key}", TimeSpan.FromSeconds(30));
            Assert.Matches($@"{Regex.Escape(victim.Key)}: resumed from \S+/e{epochA}-s\d+/ at step", b.Log);
            var carried = await run.WaitForTrainerAsync(victim.Key, t => t.Checkpoint?.Contains($"/e{epochB}-s") == true, "checkpointed by fence-b", TimeSpan.FromSeconds(30));
            Assert.True(carried.CheckpointStep > victim.CheckpointStep, $"fence-b's first checkpoint is at step {carried.CheckpointStep}, fence-a had reached {victim.CheckpointStep}");

            run.Kill(a, 18); // SIGCONT: A wakes up past its lease
            await run.WaitForAsync(() => Task.FromResult(a.Log.Split('\n').Any(l => l.Contains(victim.Key + ":") && l.Contains("lease lost"))),
                $"fence-a to notice it lost {victim.Key}", TimeSpan.FromSeconds(20));
            // A stopped that activation (it may have claimed other, unclaimed producers since)
            await run.WaitForAsync(async () =>
            {
                using var http = a.Http();
                var me = await http.GetFromJsonAsync<JsonObject>("/api/silo");
                return !me!["activations"]!.AsArray().Any(x => (string?)x!["key"] == victim.Key) && (long)me["leasesLost"]! >= 1;
            }, $"fence-a to stop its activation of {victim.Key}", TimeSpan.FromSeconds(20));
            var row = await run.TrainerAsync(victim.Key);
            Assert.Equal(epochB, row.Epoch); // A's wake-up changed nothing
            Assert.True(row.Owner == "fence-b" || row.Status == ActorStatus.Done, $"{victim.Key} is leased to {row.Owner} after fence-a woke");

            var status = await run.WaitForSweepAsync(b, "fence", TimeSpan.FromSeconds(90));
            Assert.True(status.State == "done", $"sweep ended {status.State}: {status.Error}");
            await run.AssertEverySaeWrittenAsync(status);

            // the final committed state is B's: its epoch, and the last checkpoint B uploaded under that epoch
            var final = await run.TrainerAsync(victim.Key);
            Assert.Equal(ActorStatus.Done, final.Status);
            Assert.Equal(epochB, final.Epoch);
            Assert.NotNull(final.Checkpoint);
            Assert.Contains($"/e{epochB}-s", final.Checkpoint);
            Assert.Contains($"{victim.Key}: done:", b.Log);
            Assert.DoesNotContain($"{victim.Key}: done:", a.Log);

            output.WriteLine($"{victim.Key}: epoch {epochA} on fence-a (frozen at step ≥ {victim.Step}), {epochB} on fence-b (claimed {claimedAfter.TotalSeconds:F1} s after the freeze); final checkpoint {final.Checkpoint}");
            Assert.True(await a.TerminateAsync(TimeSpan.FromSeconds(30)), "fence-a did not exit within 30 s of SIGTERM");
            Assert.True(await b.TerminateAsync(TimeSpan.FromSeconds(30)), "fence-b did not exit within 30 s of SIGTERM");
        });
    }

    [Fact]
    public async Task APostgresRestartMidSweepIsRiddenOut()
    {
        await using var run = await Run.StartAsync(servers, "pgrestart");
        await run.GuardAsync(async () =>
        {
            var s = await run.StartSiloAsync("pg-a");
            await run.SubmitAsync(s, "pgrestart");
            await run.WaitForTrainersAsync("pgrestart", ts => ts.Any(t => t.Status == ActorStatus.Running && t.Phase == "training" && t.CheckpointStep >= CheckpointEvery),
                "a trainer training with a checkpoint", TimeSpan.FromSeconds(60));

            run.StopPostgres();
            var down = Stopwatch.StartNew();
            using var http = s.Http();
            HttpStatusCode health = HttpStatusCode.OK;
            while (down.Elapsed < TimeSpan.FromSeconds(3) || health == HttpStatusCode.OK && down.Elapsed < TimeSpan.FromSeconds(10))
            {
                health = (await http.GetAsync("/healthz")).StatusCode;
                await Task.Delay(200);
            }
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health); // the outage is seen
            run.StartPostgres();
            var downFor = down.Elapsed;
            var up = Stopwatch.StartNew();

            await run.WaitForAsync(async () => (await http.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK, "/healthz to answer 200 again", TimeSpan.FromSeconds(30));
            var upAfter = up.Elapsed;
            var status = await run.WaitForSweepAsync(s, "pgrestart", TimeSpan.FromSeconds(90));
            Assert.True(status.State == "done", $"sweep ended {status.State}: {status.Error}");
            await run.AssertEverySaeWrittenAsync(status);
            Assert.Contains("cluster store unavailable", s.Log);
            output.WriteLine($"PostgreSQL down {downFor.TotalSeconds:F1} s; /healthz 200 again {upAfter.TotalSeconds:F1} s after the restart; {ResumedLine().Count(s.Log)} trainer resume(s) after lost leases");
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
            var status = await run.WaitForSweepAsync(s, "flaky", TimeSpan.FromSeconds(90));
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

    [GeneratedRegex(@"(sweep/\S+/trainer/\S+): resumed from (\S+) at step (\d+)")]
    private static partial Regex ResumedLine();

    /// <summary>A trainer's row, as the tests read it from the cluster store.</summary>
    public sealed record TrainerRow(string Key, ActorStatus Status, long Epoch, string? Owner, string? Phase, long Step, long Tokens, long CheckpointStep, string? Checkpoint)
    {
        public static TrainerRow From(ActorRecord r)
        {
            var s = ActorState.Parse(r.State);
            return new TrainerRow(r.Key, r.Status, r.Epoch, r.Owner, (string?)s["phase"], (long?)s["step"] ?? 0, (long?)s["tokens"] ?? 0,
                (long?)s["checkpoint_step"] ?? 0, (string?)s["checkpoint"]);
        }
    }

    /// <summary>
    /// One test's cluster: its own PostgreSQL database and blob store (a temp folder, or an Azure container),
    /// the silo processes it starts (each killed at the end, whatever happened) and a store to read rows with.
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
        public IClusterStore Store { get; private set; } = null!;
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

        public static async Task<Run> StartAsync(ReliabilityServers servers, string name, string? blobs = null, string? container = null, string? direct = null)
        {
            var run = new Run(servers, name, blobs, container, direct);
            run.Cluster = await servers.Postgres.NewDatabaseAsync();
            run.Store = ClusterStores.Open(run.Cluster);
            await run.Store.InitializeAsync();
            return run;
        }

        public async Task<SiloProcess> StartSiloAsync(string id)
        {
            string work = Dir[Path.Combine("work", id)];
            var args = new List<string>
            {
                "--cluster", Cluster, "--blobs", BlobsArgument, "--id", id, "--work-dir", work, "--data-root", SiloProcess.RepositoryRoot,
                "--slots", "coordinator=1,producer=1,trainer=2", "--lease-seconds", LeaseSeconds, "--grace-seconds", "10",
            };
            if (Container != null) args.AddRange(["--container", Container]);
            var silo = await SiloProcess.StartAsync(Dir.Path, null, [.. args]);
            int pid;
            try { pid = FindPid(work); }
            catch { await silo.DisposeAsync(); throw; }
            _silos.Add((id, silo, pid));
            return silo;
        }

        public async Task SubmitAsync(SiloProcess silo, string sweep, long tokens = Tokens)
        {
            using var http = silo.Http();
            var r = await http.PostAsync("/api/sweeps", new StringContent(Sweep(sweep, tokens), Encoding.UTF8, "text/yaml"));
            Assert.True(r.StatusCode == HttpStatusCode.Created, $"submit: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        }

        public async Task<IReadOnlyList<TrainerRow>> TrainersAsync(string sweep) =>
            (await Store.ListAsync(SweepKeys.TrainerPrefix(sweep), ActorKinds.Trainer)).Select(TrainerRow.From).ToArray();

        public async Task<TrainerRow> TrainerAsync(string key) =>
            TrainerRow.From(await Store.GetAsync(key) ?? throw new InvalidOperationException($"no actor {key}"));

        /// <summary>Polls the trainers' rows until <paramref name="until"/> holds (store errors count as "not yet").</summary>
        public async Task<IReadOnlyList<TrainerRow>> WaitForTrainersAsync(string sweep, Func<IReadOnlyList<TrainerRow>, bool> until, string what, TimeSpan timeout)
        {
            IReadOnlyList<TrainerRow> last = [];
            await WaitForAsync(async () => until(last = await TrainersAsync(sweep)), what, timeout, () => string.Join("\n", last));
            return last;
        }

        public async Task<TrainerRow> WaitForTrainerAsync(string key, Func<TrainerRow, bool> until, string what, TimeSpan timeout)
        {
            TrainerRow? last = null;
            await WaitForAsync(async () => until(last = await TrainerAsync(key)), $"{key} {what}", timeout, () => $"{last}");
            return last!;
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

        /// <summary>Polls GET /api/sweeps/{id} on <paramref name="silo"/> until the sweep ends (an unavailable store counts as "not yet").</summary>
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
                    foreach (string file in new[] { "sae.safetensors", "cfg.json", "metrics.json" })
                        Assert.True(await Blobs.GetSizeAsync(sae.Output + file) > 0, $"{Blobs.Location}/{sae.Output}{file} is missing");
                }
            }
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
            await Store.DisposeAsync();
            Dir.Dispose();
        }
    }
}
