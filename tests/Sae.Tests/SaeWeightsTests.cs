using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

public class SaeWeightsTests
{
    // x̂ in raw units from saved weights: pre = x·W_enc + b_enc, f by the saved architecture, x̂ = f·W_dec + b_dec
    static float[] Reconstruct(SaeWeights w, float[] x, int rows)
    {
        var xhat = new float[rows * w.DIn];
        for (int b = 0; b < rows; b++)
        {
            var pre = new double[w.DSae];
            for (int j = 0; j < w.DSae; j++)
            {
                double s = w.BEnc[j];
                for (int i = 0; i < w.DIn; i++) s += x[b * w.DIn + i] * w.WEnc[i * w.DSae + j];
                pre[j] = s;
            }
            var keep = w.Architecture == SaeArchitecture.TopK
                ? pre.Select((v, j) => (v, j)).Where(p => p.v > 0).OrderByDescending(p => p.v).Take(w.K).Select(p => p.j).ToHashSet()
                : Enumerable.Range(0, w.DSae).Where(j => pre[j] > (w.Threshold?[j] ?? 0)).ToHashSet();
            for (int i = 0; i < w.DIn; i++)
            {
                double s = w.BDec[i];
                foreach (int j in keep) s += pre[j] * w.WDec[j * w.DIn + i];
                xhat[b * w.DIn + i] = (float)s;
            }
        }
        return xhat;
    }

    [Theory]
    [InlineData(SaeArchitecture.Relu)]
    [InlineData(SaeArchitecture.TopK)]
    [InlineData(SaeArchitecture.JumpRelu)]
    [InlineData(SaeArchitecture.BatchTopK)]
    public void SavedWeightsReproduceTheTrainingForwardInRawUnits(SaeArchitecture arch)
    {
        const int d = 8, n = 20, rows = 64;
        var config = arch switch
        {
            SaeArchitecture.Relu => new SaeConfig(arch, n, l1: 0.1f),
            SaeArchitecture.TopK or SaeArchitecture.BatchTopK => new SaeConfig(arch, n, k: 3),
            _ => new SaeConfig(arch, n, l0Coefficient: 0.1f, thresholdInit: 0.05f),
        };
        var learner = new SaeLearner(config, d, 4);
        var rng = new Rng(17);
        foreach (var p in learner.Sae.Parameters) if (p.Name != "W_dec") for (int i = 0; i < p.Length; i++) p.Value[i] += rng.NextGaussian() * 0.05f;
        learner.BatchThreshold = 0.1f;
        const float scale = 0.37f;
        var raw = new float[rows * d];
        for (int i = 0; i < raw.Length; i++) raw[i] = rng.NextGaussian() * 3;
        var normalized = raw.Select(v => v * scale).ToArray();

        var ws = new StepWorkspace(rows, d, n, bf16: false);
        learner.Evaluate(normalized, rows, ws, EncoderPrecision.Float32, new long[n]);
        var weights = SaeWeights.From(learner, scale);
        var xhat = Reconstruct(weights, raw, rows);
        for (int i = 0; i < rows * d; i++)
            Assert.True(Math.Abs(ws.XHat[i] / scale - xhat[i]) < 1e-3f * (1 + Math.Abs(xhat[i])), $"element {i}: {ws.XHat[i] / scale} vs {xhat[i]}");

        // the encode every format reader hands back computes the same
        var codes = new float[rows * n];
        var encoded = new float[rows * d];
        weights.Encode(raw, rows, codes, encoded);
        for (int i = 0; i < rows * d; i++)
            Assert.True(Math.Abs(encoded[i] - xhat[i]) < 1e-3f * (1 + Math.Abs(xhat[i])), $"element {i}: {encoded[i]} vs {xhat[i]}");

        using var tmp = new TempDir();
        SaeFiles.Write(weights, SaeFormat.SaeLens, tmp["sae"], overwrite: false);
        var back = SaeFiles.Read(tmp["sae"]).Weights;
        Assert.Equal(weights.WEnc, back.WEnc);
        Assert.Equal(weights.WDec, back.WDec);
        Assert.Equal(weights.Threshold, back.Threshold);
    }
}
