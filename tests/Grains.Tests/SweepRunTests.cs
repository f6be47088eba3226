using SaeCluster.Compute;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// Whole sweeps on an embedded cluster (SQLite + local blobs, silos in this process): every trainer
/// finishes and writes its SAEs; a silo stopped mid-sweep hands its leases back and another resumes from
/// the checkpoints to exactly the weights of an uninterrupted run; cancellation fences running actors;
/// a corrupt shard fails the sweep with a message naming it.
/// </summary>
public sealed class SweepRunTests
{
    [Fact]
    public async Task ASweepTrainsEverySiteAndWritesEverySae()
    {
        await using var cluster = new EmbeddedCluster();
        var spec = TinySweep.Spec(TinySweep.Yaml("full", keepShards: false));
        await cluster.Sweeps.SubmitAsync(spec);
        using var stop = new CancellationTokenSource();
        var silo = Task.Run(() => cluster.Silo("s1").RunAsync(stop.Token));
        var status = await cluster.WaitAsync("full");
        stop.Cancel();
        await silo;

        Assert.True(status.State == "done", $"{status.State}: {status.Error}\n{string.Join('\n', cluster.Log)}");
        Assert.Equal(["0.res", "1.res"], status.Trainers.Select(t => t.Site));
        foreach (var t in status.Trainers)
        {
            Assert.Equal(("done", "done"), (t.State, t.Phase));
            Assert.Equal(16_384, t.Tokens);
            Assert.Equal(["topk-w64-k4", "topk-w64-k8"], t.Saes.Select(s => s.Name));
            foreach (var sae in t.Saes)
            {
                Assert.InRange(sae.Fvu, 0.01, 1.0);
                Assert.InRange(sae.L0, 3.5, 8.01);
                foreach (var file in new[] { "sae.safetensors", "cfg.json", "metrics.json", "sparsity.safetensors", "train_log.jsonl" })
                    Assert.True(File.Exists(cluster.BlobPath(sae.Output + file)), sae.Output + file);
                using var w = SafetensorsFile.Open(cluster.BlobPath(sae.Output + "sae.safetensors"));
                Assert.Equal([64L, 128], w.Get("W_dec").Shape);
                Assert.Contains("hook_resid_post", File.ReadAllText(cluster.BlobPath(sae.Output + "cfg.json")));
            }
        }
        // checkpoints are removed once a site is done; keep_shards: false removes its shards too
        Assert.Empty(await cluster.Blobs.ListAsync("full/checkpoints/").ToListAsync());
        Assert.Empty(await cluster.Blobs.ListAsync("full/shards/").ToListAsync());
        Assert.True(status.ProducersDone >= 1);
        Assert.Contains(cluster.Log, l => l.Contains("full/coordinator: done"));

        // /metrics keeps the final numbers a while: the sweep done at progress 1, each SAE's last step
        var sweep = Assert.Single(SaeClusterMetrics.Sweeps.Items, s => s.Sweep == "full");
        Assert.Equal(("done", 1.0), (sweep.State, sweep.Progress));
        Assert.Equal(2, sweep.Actors[("trainer", "done")]);
        var trainers = SaeClusterMetrics.Trainers.Items.Where(t => t.Sweep == "full").OrderBy(t => t.Layer).ToArray();
        Assert.Equal([0, 1], trainers.Select(t => t.Layer));
        Assert.All(trainers, t =>
        {
            Assert.Equal(("done", "res", 16_384L), (t.Phase, t.Site, t.Tokens));
            Assert.Equal(["topk-w64-k4", "topk-w64-k8"], t.Saes.Select(s => s.Name));
            Assert.All(t.Saes, s => Assert.True(s.Fvu is > 0 and < 1 && s.L0 > 0 && s.LearningRate >= 0 && double.IsFinite(s.Loss), $"{s.Name}: fvu {s.Fvu}, l0 {s.L0}"));
        });
    }

    [Fact]
    public async Task AStoppedSiloHandsItsTrainersToAnotherThatResumesToTheSameWeights()
    {
        string yaml = TinySweep.Yaml("resume", tokens: 32_768, layers: "[1]");
        // reference: uninterrupted
        byte[] reference;
        await using (var c = new EmbeddedCluster())
        {
            await c.Sweeps.SubmitAsync(TinySweep.Spec(yaml));
            using var stop = new CancellationTokenSource();
            var silo = Task.Run(() => c.Silo("ref").RunAsync(stop.Token));
            var s = await c.WaitAsync("resume");
            stop.Cancel(); await silo;
            Assert.Equal("done", s.State);
            reference = TensorBytes(c.BlobPath(s.Trainers[0].Saes[1].Output + "sae.safetensors"));
        }

        await using var cluster = new EmbeddedCluster();
        await cluster.Sweeps.SubmitAsync(TinySweep.Spec(yaml));
        using (var stop = new CancellationTokenSource())
        {
            var first = Task.Run(() => cluster.Silo("first").RunAsync(stop.Token));
            await cluster.WaitAsync("resume", s => s.Trainers.Any(t => t.Tokens >= 8 * 512));
            stop.Cancel(); // graceful: the trainer checkpoints and hands its lease back
            await first;
        }
        var trainer = (await cluster.Store.GetAsync(SweepKeys.Trainer("resume", 1, Models.HookSite.Res)))!;
        Assert.Null(trainer.Owner);
        long savedStep = (long)ActorState.Parse(trainer.State)["checkpoint_step"]!;
        Assert.InRange(savedStep, 8, 63);

        using (var stop = new CancellationTokenSource())
        {
            var second = Task.Run(() => cluster.Silo("second").RunAsync(stop.Token));
            var s = await cluster.WaitAsync("resume");
            stop.Cancel(); await second;
            Assert.True(s.State == "done", s.Error);
            Assert.Contains(cluster.Log, l => l.Contains("trainer/1.res: resumed from") && l.Contains($"at step {savedStep}"));
            Assert.Equal(reference, TensorBytes(cluster.BlobPath(s.Trainers[0].Saes[1].Output + "sae.safetensors")));
        }
    }

    [Fact]
    public async Task ACorpusShorterThanTheBudgetEndsProductionEarlyAndTrainingTakesMoreEpochs()
    {
        await using var cluster = new EmbeddedCluster();
        // json/*.py is ~60k bytes (tokens); 100k tokens are asked for
        string yaml = TinySweep.Yaml("short", tokens: 102_400, layers: "[0]").Replace(", \"/usr/lib/python3*/email/*.py\"", "");
        var spec = TinySweep.Spec(yaml);
        await cluster.Sweeps.SubmitAsync(spec);
        using var stop = new CancellationTokenSource();
        var silo = Task.Run(() => cluster.Silo("s1").RunAsync(stop.Token));
        var status = await cluster.WaitAsync("short");
        stop.Cancel(); await silo;
        Assert.True(status.State == "done", status.Error);
        Assert.Equal(102_400, status.Trainers[0].Tokens);
        Assert.InRange(status.TokensProduced, 20_000, 80_000);
        var producers = await cluster.Store.ListAsync(SweepKeys.ProducerPrefix("short"));
        // producers past the corpus' end add nothing: skipped by the coordinator, or finished empty if they ran first
        int end = producers.Select(p => (int?)ActorState.Parse(p.State)["end"]).Where(e => e != null).Min()!.Value;
        Assert.InRange(end, 20, 80);
        Assert.All(producers.Where(p => (int)ActorState.Parse(p.State)["first"]! >= end), p =>
        {
            Assert.Contains(p.Status, new[] { ActorStatus.Cancelled, ActorStatus.Done });
            Assert.Empty(ActorState.Parse(p.State)["shards"]?.AsObject() ?? []);
        });
    }

    [Fact]
    public async Task CancellingASweepFencesItsRunningActors()
    {
        await using var cluster = new EmbeddedCluster();
        await cluster.Sweeps.SubmitAsync(TinySweep.Spec(TinySweep.Yaml("cancel", tokens: 1_000_000, checkpointEvery: 0)));
        using var stop = new CancellationTokenSource();
        var runtime = cluster.Silo("s1");
        var silo = Task.Run(() => runtime.RunAsync(stop.Token));
        await cluster.WaitAsync("cancel", s => s.Trainers.Any(t => t.Phase == "training"));
        Assert.True(await cluster.Sweeps.CancelAsync("cancel"));
        Assert.False(await cluster.Sweeps.CancelAsync("no-such-sweep"));
        var status = await cluster.WaitAsync("cancel");
        Assert.Equal("cancelled", status.State);
        Assert.All(status.Trainers, t => Assert.Equal("cancelled", t.State));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (runtime.Activations.Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Empty(runtime.Activations); // the fenced activations noticed at their next renewal and stopped
        stop.Cancel(); await silo;
        Assert.Equal("cancelled", Assert.Single(SaeClusterMetrics.Sweeps.Items, s => s.Sweep == "cancel").State); // /metrics shows how it ended
        Assert.DoesNotContain(SaeClusterMetrics.Trainers.Items, t => t.Sweep == "cancel"); // its trainers are gone from it
    }

    [Fact]
    public async Task ACorruptShardFailsTheSweepNamingTheShard()
    {
        await using var cluster = new EmbeddedCluster();
        await cluster.Sweeps.SubmitAsync(TinySweep.Spec(TinySweep.Yaml("corrupt", layers: "[0]")));
        using (var stop = new CancellationTokenSource())
        {
            var producersOnly = Task.Run(() => cluster.Silo("p", "coordinator=1,producer=1,trainer=0").RunAsync(stop.Token));
            await cluster.WaitAsync("corrupt", s => s.Producers > 0 && s.ProducersDone == s.Producers);
            stop.Cancel(); await producersOnly;
        }
        string shard = cluster.BlobPath("corrupt/shards/0.res/shard-00000.safetensors");
        var bytes = File.ReadAllBytes(shard);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(shard, bytes);
        using (var stop = new CancellationTokenSource())
        {
            var silo = Task.Run(() => cluster.Silo("t").RunAsync(stop.Token));
            var status = await cluster.WaitAsync("corrupt");
            stop.Cancel(); await silo;
            Assert.Equal("failed", status.State);
            Assert.Contains("shard-00000.safetensors", status.Error);
            Assert.Contains("corrupt", status.Error);
            Assert.Empty(await cluster.Blobs.ListAsync("corrupt/saes/").ToListAsync());
        }
    }

    // every tensor's bytes (the header holds names of the run and may differ)
    static byte[] TensorBytes(string path)
    {
        using var f = SafetensorsFile.Open(path);
        return f.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => f.Bytes(t.Name).ToArray()).ToArray();
    }
}
