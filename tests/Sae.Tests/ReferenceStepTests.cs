using System.Text.Json;
using SaeCluster.Compute;
using Xunit.Abstractions;

namespace SaeCluster.Sae.Tests;

/// <summary>
/// One training step of ours against an independent PyTorch reference written from the recipes
/// (Reference/sae_reference.py: torch autograd, a custom autograd.Function for JumpReLU's straight-through
/// estimators, torch.optim.Adam, float64): codes, x̂, every loss term, every parameter's gradient, the Adam
/// update and the renormalised decoder, each compared relative to that tensor's own largest magnitude.
/// Any NaN fails.
/// </summary>
public class ReferenceStepTests(ITestOutputHelper log)
{
    const int D = 16, N = 64, B = 32;
    /// <summary>Worst |ours − reference| / max |reference| allowed per tensor (an fp32 step against float64).</summary>
    const double Tolerance = 1e-4;
    const long TokensBefore = 1000;

    static string Script => Path.Combine(AppContext.BaseDirectory, "Reference", "sae_reference.py");

    /// <summary>A case: the SAE, the 0-based step it takes of how many, and whether some latents are dead.</summary>
    sealed record Case(SaeConfig Config, long Step, long TotalSteps, bool Dead, float BatchThresholdBefore = -1f);

    static Case CaseFor(string name) => name switch
    {
        // λ and lr both inside their warm-ups (λ over 5% of 20,000 steps, lr over 1,000)
        "relu" => new(new SaeConfig(SaeArchitecture.Relu, N, l1: 0.2f, lr: 2e-3f), 500, 20_000, false),
        "topk" => new(new SaeConfig(SaeArchitecture.TopK, N, k: 4, lr: 2e-3f), 1500, 20_000, false),
        "topk-dead" => new(new SaeConfig(SaeArchitecture.TopK, N, k: 4, lr: 2e-3f), 1500, 20_000, true),
        // past step 1,000, so the inference threshold's EMA moves
        "batchtopk" => new(new SaeConfig(SaeArchitecture.BatchTopK, N, k: 4, lr: 2e-3f), 1200, 20_000, false, 0.3f),
        "batchtopk-dead" => new(new SaeConfig(SaeArchitecture.BatchTopK, N, k: 4, lr: 2e-3f), 1200, 20_000, true, 0.3f),
        // λ half-way through its 10,000-step warm-up; thresholds spread so many z fall inside the bandwidth
        "jumprelu" => new(new SaeConfig(SaeArchitecture.JumpRelu, N, l0Coefficient: 0.05f, lr: 2e-3f, bandwidth: 0.05f), 5000, 200_000, false),
        _ => throw new ArgumentException(name),
    };

    public static TheoryData<string, bool> Cases => new()
    {
        { "relu", true }, { "relu", false }, { "topk", false }, { "topk-dead", true }, { "topk-dead", false },
        { "batchtopk", false }, { "batchtopk-dead", true }, { "batchtopk-dead", false }, { "jumprelu", true }, { "jumprelu", false },
    };

    /// <param name="dense">Dense-GEMM forms (ReLU/JumpReLU codes, AuxK over the gathered dead rows) or the per-entry ones.</param>
    [Theory]
    [MemberData(nameof(Cases))]
    public void OneStepMatchesTheTorchReference(string name, bool dense)
    {
        var c = CaseFor(name);
        var rng = new Rng(17);
        var x = Inputs(rng);
        var learner = new SaeLearner(c.Config, D, 5) { DenseCodeFraction = dense ? 0 : 2, Step = c.Step, BatchThreshold = c.BatchThresholdBefore };
        var sae = learner.Sae;
        Perturb(learner, rng);
        var ws = new StepWorkspace(B, D, N, bf16: false);
        bool[] dead = new bool[N];
        long deadTokens = long.MaxValue / 2;
        if (c.Dead)
        {
            // latents that fire on this batch stay alive; every other one has gone TokensBefore tokens without firing
            learner.ComputeGradients(x, 1.0, ws, 0, TokensBefore, deadTokens, EncoderPrecision.Float32, out _);
            for (int j = 0; j < N; j++) dead[j] = true;
            for (int b = 0; b < B; b++) foreach (int j in ws.Main.RowCols(b)) dead[j] = false;
            for (int j = 0; j < N; j++) learner.LastFired[j] = dead[j] ? 0 : TokensBefore;
            deadTokens = TokensBefore / 2;
            Assert.True(dead.Count(v => v) > D / 2, $"only {dead.Count(v => v)} dead latents: AuxK would take them all");
        }
        else Array.Fill(learner.LastFired, TokensBefore);

        using var tmp = new TempDir();
        Write(tmp["x.npy"], x, B, D);
        Write(tmp["dead.npy"], dead.Select(v => v ? 1f : 0f).ToArray(), N);
        var initial = new Dictionary<string, float[]>();
        foreach (var p in sae.Parameters)
        {
            Write(tmp[p.Name + ".npy"], p.Value, p.Shape);
            Write(tmp["m_" + p.Name + ".npy"], p.M, p.Shape);
            Write(tmp["v_" + p.Name + ".npy"], p.V, p.Shape);
            initial[p.Name] = (float[])p.Value.Clone();
        }
        File.WriteAllText(tmp["config.json"], JsonSerializer.Serialize(new
        {
            arch = c.Config.Architecture.ToName(), k = c.Config.K, lr = c.Config.LearningRateFor(D), l1 = c.Config.L1Coefficient,
            l0 = c.Config.L0Coefficient, bandwidth = c.Config.Bandwidth, step = c.Step, total_steps = c.TotalSteps,
            batch_threshold = c.BatchThresholdBefore,
        }));

        var m = learner.TrainStep(x, new float[B], 1.0, ws, c.TotalSteps, TokensBefore, deadTokens, EncoderPrecision.Float32);
        DebianTorch.RunFile(Script, tmp.Path);
        var r = JsonDocument.Parse(File.ReadAllText(tmp["ref.json"])).RootElement;
        double Scalar(string key) => r.GetProperty(key).GetDouble();
        float[] Ref(string key) => Npy.Read(tmp["ref_" + key + ".npy"]).ToFloat32();

        var worst = new List<(string What, double Error)>();
        void Compare(string what, ReadOnlySpan<float> ours, float[] expected)
        {
            Assert.Equal(expected.Length, ours.Length);
            double scale = 0, err = 0;
            foreach (float e in expected) scale = Math.Max(scale, Math.Abs(e));
            for (int i = 0; i < ours.Length; i++)
            {
                Assert.False(float.IsNaN(ours[i]) || float.IsNaN(expected[i]), $"{name} {what}[{i}]: ours {ours[i]}, reference {expected[i]}");
                err = Math.Max(err, Math.Abs(ours[i] - expected[i]));
            }
            worst.Add((what, scale > 0 ? err / scale : err));
        }
        void CompareScalar(string what, double ours, double expected)
        {
            Assert.False(double.IsNaN(ours) || double.IsNaN(expected), $"{name} {what}: ours {ours}, reference {expected}");
            double d = Math.Abs(ours - expected);
            worst.Add((what, expected != 0 ? d / Math.Abs(expected) : d));
        }

        Compare("codes", Dense(ws.Main, B, N), Ref("codes"));
        // x̂ = x + (B/2)·G: the step keeps G = dL/dx̂ = (2/B)(x̂ − x), and AuxK reuses the x̂ buffer for ê
        var xHat = new float[B * D];
        for (int i = 0; i < xHat.Length; i++) xHat[i] = x[i] + B / 2f * ws.G[i];
        Compare("x_hat", xHat, Ref("x_hat"));
        CompareScalar("loss", m.Loss, Scalar("loss"));
        CompareScalar("reconstruction", m.ReconstructionLoss, Scalar("rec"));
        CompareScalar("sparsity", m.SparsityLoss, Scalar("sparsity"));
        CompareScalar("aux", m.AuxLoss, Scalar("aux"));
        CompareScalar("l0", m.L0, Scalar("l0"));
        CompareScalar("lr", m.LearningRate, Scalar("lr"));
        CompareScalar("lambda", Schedule.SparsityCoefficient(c.Config, c.Step, c.TotalSteps), Scalar("lambda"));
        if (c.Dead)
        {
            Assert.True(Scalar("aux") > 0, "AuxK did not engage in the reference");
            Compare("aux_codes", Dense(ws.Aux, B, N), Ref("aux_codes"));
            Compare("e_hat", ws.XHat.AsSpan(0, B * D), Ref("e_hat"));
        }
        if (c.Config.Architecture == SaeArchitecture.JumpRelu)
            Assert.True(Scalar("near") > 20, $"only {Scalar("near")} pre-activations inside the bandwidth");
        if (c.Config.Architecture == SaeArchitecture.BatchTopK)
            CompareScalar("batch_threshold", learner.BatchThreshold, Scalar("batch_threshold"));

        foreach (var p in sae.Parameters)
        {
            // the reference keeps W_enc as [d_in, d_sae]; ours is W_encᵀ
            string key = p == sae.EncoderT ? "W_enc" : p.Name;
            float[] Layout(float[] v) => p == sae.EncoderT ? Transpose(v, D, N) : v;
            var delta = new float[p.Length];
            for (int i = 0; i < delta.Length; i++) delta[i] = p.Value[i] - initial[p.Name][i];
            Compare("grad " + p.Name, p.Grad, Layout(Ref("grad_" + key)));
            Compare("new " + p.Name, p.Value, Layout(Ref("new_" + key)));
            Compare("delta " + p.Name, delta, Layout(Ref("delta_" + key)));
        }

        foreach (var (what, error) in worst) log.WriteLine($"{name}{(dense ? " dense" : "")} {what}: worst relative error {error:E2}");
        var bad = worst.Where(w => !(w.Error <= Tolerance)).ToList();
        Assert.True(bad.Count == 0, $"{name}: " + string.Join("; ", bad.Select(w => $"{w.What} {w.Error:E2}")));
    }

    /// <summary>A batch with a mean offset and correlated coordinates, scaled to unit mean squared norm.</summary>
    static float[] Inputs(Rng rng)
    {
        var x = new float[B * D];
        for (int b = 0; b < B; b++)
        {
            float common = rng.NextGaussian();
            for (int i = 0; i < D; i++) x[b * D + i] = rng.NextGaussian() + 0.5f * common * (i % 3) + (i == 0 ? 1f : 0f);
        }
        double meanSq = x.Sum(v => (double)v * v) / B;
        for (int i = 0; i < x.Length; i++) x[i] = (float)(x[i] / Math.Sqrt(meanSq));
        return x;
    }

    /// <summary>
    /// Moves off the tied, zero-bias initialisation (the decoder stays unit-norm for the families that keep it),
    /// spreads JumpReLU's thresholds over [0.02, 0.3], and gives Adam moments as if after earlier steps.
    /// </summary>
    static void Perturb(SaeLearner learner, Rng rng)
    {
        var sae = learner.Sae;
        foreach (var p in new[] { sae.EncoderT, sae.EncoderBias, sae.DecoderBias })
            for (int i = 0; i < p.Length; i++) p.Value[i] += rng.NextGaussian() * 0.1f;
        if (!learner.Config.KeepsUnitNormDecoder)
            for (int i = 0; i < sae.Decoder.Length; i++) sae.Decoder.Value[i] *= 1 + 0.3f * rng.NextGaussian();
        if (sae.LogThreshold is { } lt)
            for (int j = 0; j < lt.Length; j++) lt.Value[j] = MathF.Log(0.02f + 0.28f * rng.NextFloat());
        foreach (var p in sae.Parameters)
            for (int i = 0; i < p.Length; i++)
            {
                p.M[i] = 0.01f * rng.NextGaussian();
                p.V[i] = 1e-4f * (0.5f + rng.NextFloat());
            }
    }

    static void Write(string path, float[] data, params long[] shape) => Npy.Write(path, StoredTensor.FromFloat32(data, shape));

    static float[] Dense(SparseCodes codes, int rows, int width)
    {
        var f = new float[rows * width];
        for (int b = 0; b < rows; b++)
        {
            var cols = codes.RowCols(b); var vals = codes.RowVals(b);
            for (int i = 0; i < cols.Length; i++) f[b * width + cols[i]] = vals[i];
        }
        return f;
    }

    static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }
}
