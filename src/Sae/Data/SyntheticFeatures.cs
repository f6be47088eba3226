using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// Ground truth for judging SAEs: <c>Features</c> unit directions in d_in dimensions (more features than
/// dimensions: superposition); each token switches every feature on independently with probability
/// L0/Features and gives it a magnitude in [0.5, 1.5]; x = Σ aᵢ fᵢ. A perfect SAE of width = Features
/// recovers every direction (MMCS = 1) at L0 ≈ the true L0.
/// </summary>
public sealed class SyntheticFeatures : IActivationSource
{
    public int DIn { get; }
    public int Features { get; }
    public double TrueL0 { get; }
    /// <summary>True feature directions [Features, DIn], unit rows.</summary>
    public float[] Directions { get; }
    readonly ulong _seed;
    public long? Rows => null;
    public float? NormScale => null;
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SyntheticFeatures(int dIn, int features, double trueL0, ulong seed)
    {
        if (dIn < 1 || features < 1 || trueL0 <= 0 || trueL0 > features) throw new ArgumentException("synthetic: need d ≥ 1, features ≥ 1, 0 < L0 ≤ features");
        DIn = dIn; Features = features; TrueL0 = trueL0; _seed = seed;
        Directions = new float[features * dIn];
        var rng = new Rng(Rng.Derive(seed, 0xFEA7));
        for (int i = 0; i < Directions.Length; i++) Directions[i] = rng.NextGaussian();
        for (int f = 0; f < features; f++)
        {
            var row = Directions.AsSpan(f * dIn, dIn);
            TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Norm(row), row);
        }
        Metadata = new Dictionary<string, string>
        {
            ["dataset_path"] = $"synthetic:d={dIn},features={features},l0={trueL0}",
            ["model"] = "synthetic",
            ["site"] = "synthetic",
        };
    }

    /// <summary>
    /// The SAE each architecture gets when judged on this data: width = true features, sparsity aimed at
    /// the true L0. TopK and BatchTopK get only what a user would give (width, k): their defaults are what is
    /// judged. ReLU and JumpReLU get a higher lr than their large-model recipes (runs here are ~1,000 steps, not
    /// ~100,000) and JumpReLU a threshold and bandwidth for these magnitudes. <paramref name="lr"/> overrides.
    /// </summary>
    public static SaeConfig RecoverySae(SaeArchitecture a, int features, double trueL0, float? lr = null, string? name = null) => a switch
    {
        SaeArchitecture.TopK or SaeArchitecture.BatchTopK => new SaeConfig(a, features, k: (int)Math.Round(trueL0), lr: lr, name: name),
        SaeArchitecture.Relu => new SaeConfig(a, features, l1: 0.2f, lr: lr ?? 0.02f, warmupSteps: 200, name: name),
        _ => new SaeConfig(a, features, l0Coefficient: 0.015f, lr: lr ?? 0.02f, warmupSteps: 200, thresholdInit: 0.05f, bandwidth: 0.05f, name: name),
    };

    public void ReadBatch(long step, int batchSize, float[] dst)
    {
        int d = DIn;
        double p = TrueL0 / Features;
        double logq = Math.Log(1 - p);
        Parallel.For(0, batchSize, b =>
        {
            var rng = new Rng(Rng.Derive(_seed, 0xDA7A, (ulong)step, (ulong)b));
            var x = dst.AsSpan(b * d, d);
            x.Clear();
            // geometric skips: the gap to the next active feature
            for (long f = -1; ;)
            {
                f += 1 + (p >= 1 ? 0 : (long)Math.Floor(Math.Log(1 - rng.NextDouble()) / logq));
                if (f >= Features) break;
                float a = 0.5f + rng.NextFloat();
                TensorPrimitives.MultiplyAdd(Directions.AsSpan((int)f * d, d), a, x, x);
            }
        });
    }

    /// <summary>
    /// Mean over true features of the largest |cosine| with any decoder row (W_dec [width, d_in]).
    /// </summary>
    public double Mmcs(ReadOnlySpan<float> decoder, int width)
    {
        int d = DIn;
        var w = decoder[..(width * d)].ToArray();
        for (int j = 0; j < width; j++)
        {
            var row = w.AsSpan(j * d, d);
            float norm = TensorPrimitives.Norm(row);
            if (norm > 0) TensorPrimitives.Multiply(row, 1f / norm, row);
        }
        var cos = new float[Features * width]; // [features, width]
        Gemm.Sgemm(false, true, Features, width, d, 1f, Directions, d, w, d, 0f, cos, width);
        double sum = 0;
        for (int f = 0; f < Features; f++) sum += Math.Abs(TensorPrimitives.MaxMagnitude(cos.AsSpan(f * width, width)));
        return sum / Features;
    }

    public void Dispose() { }
}
