using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

/// <summary>
/// The hand-written backward passes against central finite differences of the same loss (float32
/// forward, so tolerances are a few per cent of each tensor's own gradient scale, and any NaN fails), and the JumpReLU threshold's
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

    /// <summary>
    /// Central difference of <paramref name="loss"/> in <paramref name="p"/>[<paramref name="i"/>], at the largest step
    /// whose two perturbations leave every code selection (main and AuxK) as it is unperturbed: across such a boundary
    /// the loss jumps and no difference quotient means anything. Fails when no step size avoids one.
    /// </summary>
    static (double Value, float Step) FiniteDifference(Parameter p, int i, Func<double> loss, StepWorkspace ws, string what)
    {
        float orig = p.Value[i];
        loss();
        string at = ActiveSet(ws);
        foreach (float eps in Steps)
        {
            p.Value[i] = orig + eps; double up = loss(); string setUp = ActiveSet(ws);
            p.Value[i] = orig - eps; double down = loss(); string setDown = ActiveSet(ws);
            p.Value[i] = orig;
            if (setUp == at && setDown == at) return ((up - down) / (2 * eps), eps);
        }
        Assert.Fail($"{what}: every step size down to {Steps[^1]} moves a code across a selection boundary");
        return default;
    }

    static readonly float[] Steps = [2e-3f, 5e-4f, 1.25e-4f];

    static string ActiveSet(StepWorkspace ws) => Codes(ws.Main) + "|" + Codes(ws.Aux);

    static string Codes(SparseCodes c) =>
        string.Join(";", Enumerable.Range(0, c.Rows).Select(b => string.Join(",", c.RowCols(b).ToArray().Order())));

    /// <summary>Relative tolerance, per tensor: a share of that tensor's own largest analytic gradient.</summary>
    const double Relative = 0.03;

    /// <summary>
    /// Checks the analytic gradients <paramref name="analytic"/>[idx] of one tensor against their finite differences
    /// <paramref name="fd"/>: |Δ| ≤ Relative · max |analytic of this tensor| + the difference quotient's own fp32
    /// rounding (two fp32 ulps of the loss over the step, |loss| · 2⁻²² / step; the differences measured here stay
    /// below half of it). Fails on any NaN, and on a tensor whose largest gradient is not ten times that floor.
    /// </summary>
    static void AssertTensorClose(string what, IReadOnlyList<int> idx, float[] analytic, IReadOnlyList<(double Value, float Step)> fd, double lossMagnitude)
    {
        double scale = idx.Max(i => Math.Abs((double)analytic[i]));
        double Floor(float step) => lossMagnitude * 2 / (1 << 23) / step;
        Assert.True(scale > 10 * Floor(Steps[0]), $"{what}: largest gradient {scale:G3} is within the finite differences' rounding: the setup checks nothing");
        for (int n = 0; n < idx.Count; n++)
        {
            double a = analytic[idx[n]], e = fd[n].Value;
            Assert.False(double.IsNaN(a) || double.IsNaN(e), $"{what}[{idx[n]}]: analytic {a}, finite difference {e}");
            double tol = Relative * scale + Floor(fd[n].Step);
            Assert.True(Math.Abs(e - a) <= tol, $"{what}[{idx[n]}]: analytic {a:G6} vs finite difference {e:G6} (tolerance {tol:G3}, tensor scale {scale:G3})");
        }
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
        double lossMagnitude = Math.Abs(loss());
        foreach (var p in new[] { sae.EncoderT, sae.EncoderBias, sae.DecoderBias })
        {
            var idx = Enumerable.Range(0, p.Length).ToList();
            var fd = idx.Select(i => FiniteDifference(p, i, loss, ws, $"{arch} {p.Name}[{i}]")).ToList();
            AssertTensorClose($"{arch} {p.Name}", idx, analytic[p.Name], fd, lossMagnitude);
        }
        var rows = Enumerable.Range(0, N).ToList();
        AssertTensorClose($"{arch} W_dec", DecoderIndices(rows), analytic["W_dec"], DecoderDifferences(l, rows, loss, ws, arch), lossMagnitude);
    }

    static List<int> DecoderIndices(IEnumerable<int> rows) => rows.SelectMany(j => Enumerable.Range(j * D, D)).ToList();

    // W_dec rows' finite differences; unit-norm families project out the component along each row, so the
    // difference quotient's row is projected too
    static List<(double Value, float Step)> DecoderDifferences(SaeLearner l, IEnumerable<int> rows, Func<double> loss, StepWorkspace ws, string arch)
    {
        var w = l.Sae.Decoder;
        var all = new List<(double Value, float Step)>();
        foreach (int j in rows)
        {
            var fd = Enumerable.Range(0, D).Select(i => FiniteDifference(w, j * D + i, loss, ws, $"{arch} W_dec[{j},{i}]")).ToArray();
            double along = 0;
            if (l.Config.KeepsUnitNormDecoder)
                for (int i = 0; i < D; i++) along += fd[i].Value * w.Value[j * D + i];
            for (int i = 0; i < D; i++) all.Add((fd[i].Value - along * w.Value[j * D + i], fd[i].Step));
        }
        return all;
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
        // while the main codes stay as they are (FiniteDifference checks), a dead latent's parameters move only the
        // AuxK term: differencing that term alone keeps the rest of the loss out of the quotient's fp32 rounding
        Func<double> loss = () => l.Config.AuxKCoefficient * l.ComputeGradients(x, 1.0, ws, 0, 1000, 500, EncoderPrecision.Float32, out _).AuxLoss;
        var m = l.ComputeGradients(x, 1.0, ws, 0, 1000, 500, EncoderPrecision.Float32, out _);
        Assert.True(m.AuxLoss > 0, "AuxK did not engage");
        var sae = l.Sae;
        var analytic = sae.Parameters.ToDictionary(p => p.Name, p => (float[])p.Grad.Clone());
        double lossMagnitude = Math.Abs(loss());
        // dead latents' parameters reach the loss only through the AuxK reconstruction: each tensor's dead part is
        // checked against its own scale (the live latents' reconstruction gradients are far larger)
        var deadRows = Enumerable.Range(0, N).Where(j => !live.Contains(j)).ToList();
        var encIdx = DecoderIndices(deadRows);
        AssertTensorClose($"{arch} aux W_enc_t", encIdx, analytic["W_enc_t"],
            encIdx.Select(i => FiniteDifference(sae.EncoderT, i, loss, ws, $"{arch} aux W_enc_t[{i}]")).ToList(), lossMagnitude);
        AssertTensorClose($"{arch} aux b_enc", deadRows, analytic["b_enc"],
            deadRows.Select(j => FiniteDifference(sae.EncoderBias, j, loss, ws, $"{arch} aux b_enc[{j}]")).ToList(), lossMagnitude);
        AssertTensorClose($"{arch} aux W_dec", encIdx, analytic["W_dec"], DecoderDifferences(l, deadRows, loss, ws, arch + " aux"), lossMagnitude);
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
