using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

/// <summary>Every architecture, trained in one pass on features in superposition, finds them (MMCS targets of the issue).</summary>
public class SyntheticRecoveryTests
{
    [Fact]
    public void AllFourArchitecturesRecoverTheTrueFeatures()
    {
        using var truth = new SyntheticFeatures(64, 128, 4, seed: 0);
        var archs = new[] { SaeArchitecture.Relu, SaeArchitecture.TopK, SaeArchitecture.BatchTopK, SaeArchitecture.JumpRelu };
        var configs = archs.Select(a => SyntheticFeatures.RecoverySae(a, 128, 4)).ToArray();
        using var trainer = new MultiSaeTrainer(new TrainingConfig(configs, 3_000_000, 4096, deadTokens: 100_000, checkpointEvery: 0, evalTokens: 65536), truth);
        trainer.Initialize();
        trainer.Run(CancellationToken.None);
        var evals = trainer.Evaluate();
        for (int i = 0; i < archs.Length; i++)
        {
            double mmcs = truth.Mmcs(trainer.Learners[i].Sae.Decoder.Value, 128);
            double target = archs[i] == SaeArchitecture.Relu ? 0.85 : 0.95;
            Assert.True(mmcs >= target, $"{archs[i]}: MMCS {mmcs:F3} < {target}");
            Assert.True(evals[i].Fvu < 0.3, $"{archs[i]}: FVU {evals[i].Fvu:F3}");
            Assert.InRange(evals[i].L0, 2, 12);
        }
    }
}
