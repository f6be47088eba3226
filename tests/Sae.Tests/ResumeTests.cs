using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

public class ResumeTests
{
    static TrainingConfig Config(int checkpointEvery) => new(
        [new SaeConfig(SaeArchitecture.TopK, 48, k: 4, lr: 1e-2f, warmupSteps: 5),
         new SaeConfig(SaeArchitecture.BatchTopK, 32, k: 3, lr: 1e-2f, thresholdStartStep: 4),
         new SaeConfig(SaeArchitecture.JumpRelu, 40, l0Coefficient: 0.01f, lr: 1e-2f, thresholdInit: 0.05f, bandwidth: 0.05f),
         new SaeConfig(SaeArchitecture.Relu, 24, l1: 0.1f, lr: 1e-2f)],
        tokens: 30 * 256, batchSize: 256, seed: 5, shuffleBlock: 1000, logEvery: 1, checkpointEvery: checkpointEvery,
        deadTokens: 2000, precision: EncoderPrecision.Float32, evalTokens: 1024);

    static void MakeShards(string folder)
    {
        using var truth = new SyntheticFeatures(16, 48, 3, seed: 9);
        ShardWriter.WriteFromSource(truth, folder, shards: 3, rowsPerShard: 1500);
    }

    [Fact]
    public void StoppedAndResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne()
    {
        using var tmp = new TempDir();
        MakeShards(tmp["data"]);

        // uninterrupted
        var straight = new LocalTrainingRun(tmp["a"], singleSaeFolder: false);
        using (var ds = ShardDataset.Open(tmp["data"], 5, 1000))
        using (var t = new MultiSaeTrainer(Config(7), ds))
            straight.Execute(t, null, false, null, null, CancellationToken.None);

        // stopped after step 12 (checkpoint written on cancellation), then resumed in a new trainer
        var resumed = new LocalTrainingRun(tmp["b"], singleSaeFolder: false);
        using (var cts = new CancellationTokenSource())
        using (var ds = ShardDataset.Open(tmp["data"], 5, 1000))
        using (var t = new MultiSaeTrainer(Config(7), ds))
        {
            Assert.Throws<OperationCanceledException>(() =>
                resumed.Execute(t, null, false, p => { if (p.Step == 12) cts.Cancel(); }, null, cts.Token));
            Assert.Equal(12, t.Step);
        }
        string? checkpoint = resumed.PrepareOutput(resume: true, overwrite: false);
        Assert.NotNull(checkpoint);
        using (var ds = ShardDataset.Open(tmp["data"], 5, 1000))
        using (var t = new MultiSaeTrainer(Config(7), ds))
        {
            resumed.Execute(t, checkpoint, false, null, null, CancellationToken.None);
            Assert.Equal(30, t.Step);
        }

        foreach (var name in Config(7).Saes.Select(s => s.Name))
        {
            var a = File.ReadAllBytes(Path.Combine(tmp["a"], name, "sae_weights.safetensors"));
            var b = File.ReadAllBytes(Path.Combine(tmp["b"], name, "sae_weights.safetensors"));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{name}: resumed weights differ from the uninterrupted run");
        }
        Assert.False(Directory.Exists(Path.Combine(tmp["b"], "checkpoint")), "the checkpoint should be gone once the run finished");
    }

    [Fact]
    public void ResumeRefusesACheckpointOfADifferentConfiguration()
    {
        using var tmp = new TempDir();
        MakeShards(tmp["data"]);
        var run = new LocalTrainingRun(tmp["out"], singleSaeFolder: false);
        using (var cts = new CancellationTokenSource())
        using (var ds = ShardDataset.Open(tmp["data"], 5, 1000))
        using (var t = new MultiSaeTrainer(Config(7), ds))
            Assert.Throws<OperationCanceledException>(() => run.Execute(t, null, false, p => { if (p.Step == 3) cts.Cancel(); }, null, cts.Token));
        var changed = new TrainingConfig([new SaeConfig(SaeArchitecture.TopK, 48, k: 5)], tokens: 30 * 256, batchSize: 256, seed: 5, shuffleBlock: 1000);
        using var ds2 = ShardDataset.Open(tmp["data"], 5, 1000);
        using var t2 = new MultiSaeTrainer(changed, ds2);
        var e = Assert.Throws<DataException>(() => run.Execute(t2, run.PrepareOutput(true, false), false, null, null, CancellationToken.None));
        Assert.Contains("different configuration", e.Message);
        Assert.Contains("trainer.json", e.Message);
    }

    [Fact]
    public void EveryRowIsVisitedOncePerEpochInAShuffledOrder()
    {
        using var tmp = new TempDir();
        // rows hold their own index, so the stream can be decoded
        var w = new SafetensorsWriter();
        var acts = Enumerable.Range(0, 1000).Select(i => (float)i).ToArray();
        w.Add("acts", acts, [1000, 1]);
        Directory.CreateDirectory(tmp["d"]);
        w.Write(Path.Combine(tmp["d"], "s.safetensors"));
        using var ds = ShardDataset.Open(tmp["d"], seed: 1, shuffleBlock: 128);
        var seen = new List<int>();
        var batch = new float[100];
        for (int step = 0; step < 20; step++) { ds.ReadBatch(step, 100, batch); seen.AddRange(batch.Select(v => (int)v)); }
        var epoch0 = seen.Take(1000).ToArray();
        var epoch1 = seen.Skip(1000).ToArray();
        Assert.Equal(Enumerable.Range(0, 1000), epoch0.Order());
        Assert.Equal(Enumerable.Range(0, 1000), epoch1.Order());
        Assert.NotEqual(epoch0, epoch1);
        Assert.NotEqual(Enumerable.Range(0, 1000), epoch0);
        // the same step always gives the same batch
        using var again = ShardDataset.Open(tmp["d"], seed: 1, shuffleBlock: 128);
        again.ReadBatch(13, 100, batch);
        Assert.Equal(seen.Skip(1300).Take(100), batch.Select(v => (int)v));
    }
}
