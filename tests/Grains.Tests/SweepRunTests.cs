using SaeCluster.Compute;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// Whole sweeps on an embedded cluster (an Orleans silo in this process, grain state in a folder, local
/// blobs): every trainer finishes and writes its SAEs; a silo stopped mid-sweep checkpoints, and the next
/// one resumes from the checkpoints to exactly the weights of an uninterrupted run; cancellation ends
/// running work; a corrupt shard fails the sweep with a message naming it.
/// </summary>
public sealed class SweepRunTests
{
    [Fact]
    public async Task ASweepTrainsEverySiteAndWritesEverySae()
    {
        await using var cluster = new EmbeddedCluster();
        await cluster.StartAsync();
        var spec = TinySweep.Spec(TinySweep.Yaml("full", keepShards: false, formats: "[saelens, dictlearn, sparsify]"));
        await cluster.Sweeps.SubmitAsync(spec);
        var status = await cluster.WaitAsync("full");

        Assert.True(status.State == "done", $"{status.State}: {status.Error}\n{string.Join('\n', cluster.Lines)}");
        Assert.Equal(["0.res", "1.res"], status.Trainers.Select(t => t.Site));
        foreach (var t in status.Trainers)
        {
            Assert.Equal(("done", "done"), (t.State, t.Phase));
            Assert.Equal(16_384, t.Tokens);
            Assert.Equal(["topk-w64-k4", "topk-w64-k8"], t.Saes.Select(s => s.Name));
            foreach (var sae in t.Saes)
            {
                Assert.InRange(sae.Fvu, 0.01, 1.0);
                int k = sae.Name.EndsWith("k4") ? 4 : 8;
                // TopK keeps the k largest *positive* pre-activations (CodeSelection.TopK → RowTopKPositive): k per token
                // unless a row has fewer than k positive ones. None of these trained 64-latent SAEs has such a row, so
                // L0 (nnz / tokens over the evaluation) is exactly k: 4 and 8, not merely close to it.
                Assert.Equal(k, sae.L0);
                Assert.Equal($"full/saes/{t.Site}/{sae.Name}/", sae.Output);
                foreach (var file in new[] { "sae_weights.safetensors", "cfg.json", "metrics.json", "sparsity.safetensors", "train_log.jsonl" })
                    Assert.True(File.Exists(cluster.BlobPath(sae.Output + file)), sae.Output + file);
                using var w = SafetensorsFile.Open(cluster.BlobPath(sae.Output + "sae_weights.safetensors"));
                Assert.Equal([64L, 128], w.Get("W_dec").Shape);
                Assert.Contains("hook_resid_post", File.ReadAllText(cluster.BlobPath(sae.Output + "cfg.json")));
                // storage.formats: the same SAE as dictionary_learning and sparsify files, in subfolders
                int layer = int.Parse(t.Site[..1]);
                var saelens = SaeCluster.Sae.SaeFiles.Read(cluster.BlobPath(sae.Output!));
                Assert.Equal($"blocks.{layer}.hook_resid_post", saelens.Weights.Provenance.HookName);
                Assert.Equal("tiny-gemma2-code", saelens.Weights.Provenance.ModelName);
                Assert.Equal(64, saelens.Weights.Provenance.ContextSize);
                Assert.Contains("json/*.py", saelens.Weights.Provenance.DatasetPath);
                var dl = SaeCluster.Sae.SaeFiles.Read(cluster.BlobPath(sae.Output + "dictlearn"));
                Assert.Equal((SaeCluster.Sae.SaeFormat.DictLearn, k), (dl.Format, dl.Weights.K));
                Assert.True(File.Exists(cluster.BlobPath(sae.Output + $"sparsify/layers.{layer}/sae.safetensors")));
                Assert.False(Directory.Exists(cluster.BlobPath(sae.Output + "gemmascope")));
            }
        }
        // checkpoints (and the staged outputs under them) are removed once a site is done; keep_shards: false removes its shards too
        Assert.Empty(await cluster.Blobs.ListAsync("full/checkpoints/").ToListAsync());
        Assert.Empty(await cluster.Blobs.ListAsync("full/shards/").ToListAsync());
        Assert.Empty(await cluster.Blobs.ListAsync("full/catalog/").ToListAsync());
        Assert.Equal(spec.EstimatedProducers, status.Producers);
        Assert.InRange(status.ProducersDone, 1, status.Producers); // the rest stopped once training had what it needed
        Assert.Contains(cluster.Lines, l => l.Contains("full: done: 2 trainer(s) finished"));

        // every piece of work is final, each trainer claimed once (epoch 1) on this silo
        var work = await cluster.Sweeps.GetWorkAsync("full");
        Assert.Equal(1 + spec.EstimatedProducers + 2 + 2, work.Count); // the sweep, producers, 2 trainers, 2 evaluations in the model
        Assert.All(work, w => Assert.Contains(w.Status, new[] { "done", w.Kind == SiloRoles.Producer ? "cancelled" : "done" }));
        Assert.All(work.Where(w => w.Kind == SiloRoles.Trainer), w => Assert.Equal(1, w.Epoch));

        // /metrics keeps the final numbers a while: the sweep done at progress 1, each SAE's last step
        var sweep = Assert.Single(SaeClusterMetrics.Sweeps.Items, s => s.Sweep == "full");
        Assert.Equal(("done", 1.0), (sweep.State, sweep.Progress));
        Assert.Equal(2, sweep.Actors[("trainer", "done")]);
        Assert.Equal(2, sweep.Actors[("evaluator", "done")]);
        // each SAE's evaluation in the model: in its status, its metrics.json (eval.json, latents.json beside) and /metrics
        foreach (var t in status.Trainers)
            foreach (var sae in t.Saes)
            {
                Assert.NotNull(sae.DeltaLoss);
                Assert.InRange(sae.CeLossScore!.Value, 0.2, 1.0);
                var metrics = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(cluster.BlobPath(sae.Output + "metrics.json")))!;
                Assert.Equal(sae.DeltaLoss!.Value, (double)metrics["delta_loss"]!, 4);
                Assert.True(File.Exists(cluster.BlobPath(sae.Output + "eval.json")) && File.Exists(cluster.BlobPath(sae.Output + "latents.json")));
                var gauge = Assert.Single(SaeClusterMetrics.Evaluations.Items, e => e.Sweep == "full" && $"{e.Layer}.{e.Site}" == t.Site).Results.Single(r => r.Name == sae.Name);
                Assert.Equal(sae.CeLossScore!.Value, gauge.CeLossScore, 5);
            }
        var trainers = SaeClusterMetrics.Trainers.Items.Where(t => t.Sweep == "full").OrderBy(t => t.Layer).ToArray();
        Assert.Equal([0, 1], trainers.Select(t => t.Layer));
        Assert.All(trainers, t =>
        {
            Assert.Equal(("done", "res", 16_384L), (t.Phase, t.Site, t.Tokens));
            Assert.Equal(["topk-w64-k4", "topk-w64-k8"], t.Saes.Select(s => s.Name));
            Assert.All(t.Saes, s => Assert.True(s.Fvu is > 0 and < 1 && s.LearningRate >= 0 && double.IsFinite(s.Loss), $"{s.Name}: fvu {s.Fvu}"));
            Assert.Equal([4.0, 8.0], t.Saes.Select(s => s.L0)); // the last step's L0: k of topk-w64-k4 and of topk-w64-k8
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
            await c.StartAsync("ref");
            await c.Sweeps.SubmitAsync(TinySweep.Spec(yaml));
            var s = await c.WaitAsync("resume");
            Assert.True(s.State == "done", s.Error);
            reference = TensorBytes(c.BlobPath(s.Trainers[0].Saes[1].Output + "sae_weights.safetensors"));
        }

        await using var cluster = new EmbeddedCluster();
        await cluster.StartAsync("first");
        await cluster.Sweeps.SubmitAsync(TinySweep.Spec(yaml));
        await cluster.WaitAsync("resume", s => s.Trainers.Any(t => t.Tokens >= 8 * 512));
        await cluster.StopAsync(); // graceful: the trainer checkpoints where it is and hands back
        string saved = Assert.Single(cluster.Lines, l => l.Contains("resume/1.res: handed back at step"));
        long savedStep = long.Parse(saved[(saved.LastIndexOf(' ') + 1)..]);
        Assert.InRange(savedStep, 8, 63);

        await cluster.StartAsync("second");
        var status = await cluster.WaitAsync("resume");
        Assert.True(status.State == "done", status.Error);
        Assert.Contains(cluster.Lines, l => l.StartsWith("second ") && l.Contains("resume/1.res: resumed from resume/checkpoints/1.res/e1-s") && l.EndsWith($"at step {savedStep}"));
        var trainer = Assert.Single(await cluster.Sweeps.GetWorkAsync("resume"), w => w.Kind == SiloRoles.Trainer);
        Assert.Equal(2, trainer.Epoch); // claimed once by each silo
        Assert.Equal(reference, TensorBytes(cluster.BlobPath(status.Trainers[0].Saes[1].Output + "sae_weights.safetensors")));
    }

    [Fact]
    public async Task ACorpusShorterThanTheBudgetEndsProductionEarlyAndTrainingTakesMoreEpochs()
    {
        await using var cluster = new EmbeddedCluster();
        await cluster.StartAsync();
        // json/*.py is ~60k bytes (tokens); 100k tokens are asked for
        string yaml = TinySweep.Yaml("short", tokens: 102_400, layers: "[0]").Replace(", \"/usr/lib/python3*/email/*.py\"", "");
        var spec = TinySweep.Spec(yaml);
        await cluster.Sweeps.SubmitAsync(spec);
        var status = await cluster.WaitAsync("short");
        Assert.True(status.State == "done", status.Error);
        Assert.Equal(102_400, status.Trainers[0].Tokens);
        Assert.InRange(status.TokensProduced, 20_000, 80_000);
        // the stream ended where the corpus did; producers past that end were skipped, or finished empty if they ran first
        var catalog = await cluster.Silo.Grains.Sweep("short").GetCatalogAsync("0.res");
        Assert.True(catalog.Complete);
        Assert.InRange(catalog.TotalShards, 20, 80);
        Assert.Equal(Enumerable.Range(0, catalog.TotalShards), catalog.Shards.Keys.Order());
        var producers = (await cluster.Sweeps.GetWorkAsync("short")).Where(w => w.Kind == SiloRoles.Producer).ToArray();
        Assert.Equal(spec.EstimatedProducers, producers.Length);
        Assert.All(producers.Where(p => SweepKeys.ProducerIndex(p.Key) * spec.ShardsPerProducer >= catalog.TotalShards), p =>
        {
            Assert.Contains(p.Status, new[] { "cancelled", "done" });
            Assert.Equal(0, p.Tokens);
        });
    }

    [Fact]
    public async Task CancellingASweepEndsItsRunningWork()
    {
        await using var cluster = new EmbeddedCluster();
        var silo = await cluster.StartAsync();
        await cluster.Sweeps.SubmitAsync(TinySweep.Spec(TinySweep.Yaml("cancel", tokens: 1_000_000, checkpointEvery: 0)));
        await cluster.WaitAsync("cancel", s => s.Trainers.Any(t => t.Phase == "training"));
        Assert.True(await cluster.Sweeps.CancelAsync("cancel"));
        Assert.False(await cluster.Sweeps.CancelAsync("no-such-sweep"));
        var status = await cluster.WaitAsync("cancel");
        Assert.Equal("cancelled", status.State);
        Assert.All(status.Trainers, t => Assert.Equal("cancelled", t.State));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (silo.Work.Activations.Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Empty(silo.Work.Activations); // every producer and trainer stopped
        Assert.Empty(await cluster.Blobs.ListAsync("cancel/saes/").ToListAsync());
        Assert.Equal("cancelled", Assert.Single(SaeClusterMetrics.Sweeps.Items, s => s.Sweep == "cancel").State); // /metrics shows how it ended
        Assert.DoesNotContain(SaeClusterMetrics.Trainers.Items, t => t.Sweep == "cancel"); // its trainers are gone from it

        // a deleted sweep leaves no blob and no state behind
        Assert.True(await cluster.Sweeps.DeleteAsync("cancel"));
        Assert.Null(await cluster.Sweeps.GetAsync("cancel"));
        Assert.Empty(await cluster.Blobs.ListAsync("cancel/").ToListAsync());
        Assert.DoesNotContain(await cluster.Sweeps.ListAsync(), s => s.Id == "cancel");
        Assert.False(await cluster.Sweeps.DeleteAsync("cancel"));
    }

    [Fact]
    public async Task ACorruptShardFailsTheSweepNamingTheShard()
    {
        await using var cluster = new EmbeddedCluster();
        await cluster.StartAsync("producers", roles: "coordinator,producer");
        await cluster.Sweeps.SubmitAsync(TinySweep.Spec(TinySweep.Yaml("corrupt", layers: "[0]")));
        var waiting = await cluster.WaitAsync("corrupt", s => s.Producers > 0 && s.ProducersDone == s.Producers);
        Assert.Contains("no silo in the cluster has the trainer role", waiting.Message); // the sweep says why its trainer does not start
        await cluster.StopAsync();

        string shard = cluster.BlobPath((await cluster.Blobs.ListAsync("corrupt/shards/0.res/shard-00000.").SingleAsync()).Name);
        var bytes = File.ReadAllBytes(shard);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(shard, bytes);

        await cluster.StartAsync("trainers");
        var status = await cluster.WaitAsync("corrupt");
        Assert.Equal("failed", status.State);
        Assert.Contains("shard-00000.e1.safetensors", status.Error);
        Assert.Contains("corrupt", status.Error);
        Assert.Empty(await cluster.Blobs.ListAsync("corrupt/saes/").ToListAsync());
    }

    // every tensor's bytes (the header holds names of the run and may differ)
    static byte[] TensorBytes(string path)
    {
        using var f = SafetensorsFile.Open(path);
        return f.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => f.Bytes(t.Name).ToArray()).ToArray();
    }
}
