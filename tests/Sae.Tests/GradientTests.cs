using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

/// <summary>
/// The hand-written backward passes against central finite differences of the same loss (float32
/// forward, so tolerances are a few per cent of the gradient scale), and the JumpReLU threshold's
/// straight-through gradient against the formula evaluated independently in double precision.
/// </summary>
public class GradientTests
{
    const int D = 6, N = 12, B = 16;

    static (SaeLearner, StepWorkspace, float[] x) Setup(SaeConfig config, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[B * D];
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextGaussian() * 0.5f + (i % D == 0 ? 0.3f : 0f);
        var learner = new SaeLearner(config, D, seed);
        var sae = learner.Sae;
        // move away from the tied, zero-bias initialisation so every term is generic
        foreach (var p in new[] { sae.EncoderT, sae.EncoderBias, sae.DecoderBias })
            for (int i = 0; i < p.Length; i++) p.Value[i] += rng.NextGaussian() * 0.1f;
        return (learner, new StepWorkspace(B, D, N, bf16: false), x);
    }

    static double Loss(SaeLearner l, StepWorkspace ws, float[] x, float lambda, long tokensBefore, long deadTokens) =>
        l.ComputeGradients(x, 1.0, ws, lambda, tokensBefore, deadTokens, EncoderPrecision.Float32, out _).Loss;

    // Central difference; NaN when the perturbation moved an entry across a JumpReLU/TopK boundary
    // (the loss is discontinuous there and no difference quotient means anything).
    static double FiniteDifference(Parameter p, int i, Func<double> loss, StepWorkspace ws, float eps = 2e-3f)
    {
        float orig = p.Value[i];
        p.Value[i] = orig + eps; double up = loss(); string setUp = ActiveSet(ws);
        p.Value[i] = orig - eps; double down = loss(); string setDown = ActiveSet(ws);
        p.Value[i] = orig;
        return setUp == setDown ? (up - down) / (2 * eps) : double.NaN;
    }

    static string ActiveSet(StepWorkspace ws) =>
        string.Join(";", Enumerable.Range(0, ws.Main.Rows).Select(b => string.Join(",", ws.Main.RowCols(b).ToArray().Order())));

    static int _skipped;

    static void AssertClose(double expected, double actual, double scale, string what)
    {
        if (double.IsNaN(expected)) { _skipped++; return; }
        double tol = 0.03 * scale + 1e-4;
        Assert.True(Math.Abs(expected - actual) <= tol, $"{what}: analytic {actual:G6} vs finite difference {expected:G6} (tolerance {tol:G3})");
    }

    public static TheoryData<string, bool> Architectures => new()
    {
        { "relu", false }, { "relu", true }, { "topk", false }, { "batchtopk", false }, { "jumprelu", false }, { "jumprelu", true },
    };

    static SaeConfig Config(string arch) => arch switch
    {
        "relu" => new SaeConfig(SaeArchitecture.Relu, N, l1: 0.3f),
        "topk" => new SaeConfig(SaeArchitecture.TopK, N, k: 3),
        "batchtopk" => new SaeConfig(SaeArchitecture.BatchTopK, N, k: 3),
        _ => new SaeConfig(SaeArchitecture.JumpRelu, N, l0Coefficient: 0.2f, thresholdInit: 0.05f, bandwidth: 0.5f),
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void EncoderDecoderAndBiasGradientsMatchFiniteDifferences(string arch, bool denseCodes)
    {
        var (l, ws, x) = Setup(Config(arch), 7);
        l.DenseCodeFraction = denseCodes ? 0 : 2; // force the dense-GEMM or the per-entry backward
        const float lambda = 0.2f;
        Func<double> loss = () => Loss(l, ws, x, lambda, 0, long.MaxValue / 2);
        loss();
        var sae = l.Sae;
        var analytic = sae.Parameters.ToDictionary(p => p.Name, p => (float[])p.Grad.Clone());
        double scale = analytic.Values.Max(g => g.Max(Math.Abs));
        _skipped = 0;
        Assert.True(scale > 1e-3, "gradients are all ~0: the test setup is degenerate");
        foreach (var p in new[] { sae.EncoderT, sae.EncoderBias, sae.DecoderBias })
            for (int i = 0; i < p.Length; i++)
                AssertClose(FiniteDifference(p, i, loss, ws), analytic[p.Name][i], scale, $"{arch} {p.Name}[{i}]");
        // W_dec: unit-norm families project out the component along each row, so project the FD row too
        for (int j = 0; j < N; j++)
        {
            var fd = new double[D];
            for (int i = 0; i < D; i++) fd[i] = FiniteDifference(sae.Decoder, j * D + i, loss, ws);
            if (l.Config.KeepsUnitNormDecoder)
            {
                double dot = 0;
                for (int i = 0; i < D; i++) dot += fd[i] * sae.Decoder.Value[j * D + i];
                for (int i = 0; i < D; i++) fd[i] -= dot * sae.Decoder.Value[j * D + i];
            }
            for (int i = 0; i < D; i++) AssertClose(fd[i], analytic["W_dec"][j * D + i], scale, $"{arch} W_dec[{j},{i}]");
        }
        int checkedCount = N * D * 2 + N + D;
        Assert.True(_skipped < checkedCount / 10, $"{_skipped} of {checkedCount} entries sat on a discontinuity");
    }

    [Theory]
    [InlineData("topk", false)]
    [InlineData("topk", true)]
    [InlineData("batchtopk", false)]
    [InlineData("batchtopk", true)]
    public void AuxKGradientsOfDeadLatentsMatchFiniteDifferences(string arch, bool denseAux)
    {
        var (l, ws, x) = Setup(Config(arch), 11);
        l.DenseCodeFraction = denseAux ? 0 : 2; // GEMMs over the gathered dead rows, or per-entry work
        // latents active on this batch stay alive; every other latent is dead and feeds AuxK
        l.ComputeGradients(x, 1.0, ws, 0, 0, long.MaxValue / 2, EncoderPrecision.Float32, out _);
        var live = new HashSet<int>();
        for (int b = 0; b < B; b++) foreach (int j in ws.Main.RowCols(b)) live.Add(j);
        Assert.True(live.Count < N, "every latent fired: nothing is dead");
        for (int j = 0; j < N; j++) l.LastFired[j] = live.Contains(j) ? 1000 : 0;
        Func<double> loss = () => Loss(l, ws, x, 0, 1000, 500);
        var m = l.ComputeGradients(x, 1.0, ws, 0, 1000, 500, EncoderPrecision.Float32, out _);
        Assert.True(m.AuxLoss > 0, "AuxK did not engage");
        var sae = l.Sae;
        var analytic = sae.Parameters.ToDictionary(p => p.Name, p => (float[])p.Grad.Clone());
        double scale = analytic["W_enc_t"].Max(Math.Abs);
        // dead latents' parameters reach the loss only through the AuxK reconstruction
        foreach (int j in Enumerable.Range(0, N).Where(j => !live.Contains(j)))
        {
            for (int i = 0; i < D; i++)
                AssertClose(FiniteDifference(sae.EncoderT, j * D + i, loss, ws), analytic["W_enc_t"][j * D + i], scale, $"{arch} aux W_enc_t[{j},{i}]");
            AssertClose(FiniteDifference(sae.EncoderBias, j, loss, ws), analytic["b_enc"][j], scale, $"{arch} aux b_enc[{j}]");
            var fd = Enumerable.Range(0, D).Select(i => FiniteDifference(sae.Decoder, j * D + i, loss, ws)).ToArray();
            double along = 0;
            for (int i = 0; i < D; i++) along += fd[i] * sae.Decoder.Value[j * D + i];
            for (int i = 0; i < D; i++)
                AssertClose(fd[i] - along * sae.Decoder.Value[j * D + i], analytic["W_dec"][j * D + i], scale, $"{arch} aux W_dec[{j},{i}]");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void JumpReluThresholdGetsTheStraightThroughGradient(bool denseCodes)
    {
        const float lambda = 0.2f;
        var config = Config("jumprelu");
        var (l, ws, x) = Setup(config, 3);
        l.DenseCodeFraction = denseCodes ? 0 : 2;
        l.ComputeGradients(x, 1.0, ws, lambda, 0, long.MaxValue / 2, EncoderPrecision.Float32, out _);
        var sae = l.Sae;
        double eps = config.Bandwidth;
        // independent double-precision forward: z, f, x̂
        var theta = sae.LogThreshold!.Value.Select(v => Math.Exp(v)).ToArray();
        var z = new double[B, N];
        var xhat = new double[B, D];
        for (int b = 0; b < B; b++)
        {
            for (int i = 0; i < D; i++) xhat[b, i] = sae.DecoderBias.Value[i];
            for (int j = 0; j < N; j++)
            {
                double s = sae.EncoderBias.Value[j];
                for (int i = 0; i < D; i++) s += (x[b * D + i] - sae.DecoderBias.Value[i]) * sae.EncoderT.Value[j * D + i];
                z[b, j] = s;
                if (s > theta[j]) for (int i = 0; i < D; i++) xhat[b, i] += s * sae.Decoder.Value[j * D + i];
            }
        }
        int near = 0;
        for (int j = 0; j < N; j++)
        {
            double g = 0;
            for (int b = 0; b < B; b++)
            {
                if (Math.Abs(z[b, j] - theta[j]) >= eps / 2) continue;
                near++;
                double df = 0;
                for (int i = 0; i < D; i++) df += 2.0 / B * (xhat[b, i] - x[b * D + i]) * sae.Decoder.Value[j * D + i];
                g += -(theta[j] / eps) * df - lambda / B / eps;
            }
            g *= theta[j]; // parameterised as log θ
            Assert.True(Math.Abs(g - sae.LogThreshold.Grad[j]) <= 1e-4 + 1e-3 * Math.Abs(g), $"log_threshold[{j}]: {sae.LogThreshold.Grad[j]} vs {g}");
        }
        Assert.True(near > 0, "no pre-activation fell inside the bandwidth: the test checks nothing");
    }
}

public class Bf16StepTests
{
    /// <summary>The bf16 (AMX) GEMM path computes the same gradients as fp32, up to bf16 rounding.</summary>
    [Theory]
    [InlineData(SaeArchitecture.TopK, true)]
    [InlineData(SaeArchitecture.TopK, false)]
    [InlineData(SaeArchitecture.JumpRelu, true)]
    [InlineData(SaeArchitecture.Relu, true)]
    public void Bf16GradientsAgreeWithFp32(SaeArchitecture arch, bool denseAux)
    {
        const int d = 64, n = 256, B = 512;
        var config = arch switch
        {
            SaeArchitecture.TopK => new SaeConfig(arch, n, k: 8),
            SaeArchitecture.Relu => new SaeConfig(arch, n, l1: 0.05f),
            _ => new SaeConfig(arch, n, l0Coefficient: 0.01f, thresholdInit: 0.05f),
        };
        using var truth = new SyntheticFeatures(d, n, 6, seed: 1);
        var x = new float[B * d];
        truth.ReadBatch(0, B, x);
        float[][] Grads(EncoderPrecision p)
        {
            var l = new SaeLearner(config, d, 3) { DenseCodeFraction = denseAux ? 0 : 2 };
            for (int j = 0; j < n; j++) l.LastFired[j] = j % 3 == 0 ? 0 : 1_000_000; // a third dead: AuxK runs
            var ws = new StepWorkspace(B, d, n, bf16: p == EncoderPrecision.BFloat16);
            l.ComputeGradients(x, 1.0, ws, 0.01f, 1_000_000, 500_000, p, out _);
            return l.Sae.Parameters.Select(q => (float[])q.Grad.Clone()).ToArray();
        }
        var g32 = Grads(EncoderPrecision.Float32);
        var g16 = Grads(EncoderPrecision.BFloat16);
        // (log θ is left out: its straight-through gradient counts z inside a ±ε/2 window, and bf16
        // rounding of z is of the order of ε — which is why Auto precision keeps JumpReLU in fp32)
        for (int i = 0; i < 4; i++)
        {
            double err = 0, norm = 0;
            for (int e = 0; e < g32[i].Length; e++) { err += Math.Pow(g32[i][e] - g16[i][e], 2); norm += Math.Pow(g32[i][e], 2); }
            Assert.True(Math.Sqrt(err) <= 0.1 * Math.Sqrt(norm) + 1e-6, $"parameter {i}: relative error {Math.Sqrt(err / Math.Max(norm, 1e-30)):F3}");
        }
    }
}
