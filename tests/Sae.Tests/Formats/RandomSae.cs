using SaeCluster.Compute;

namespace SaeCluster.Sae.Tests;

/// <summary>Random SAEs of every architecture, and the maths of ../shared/reference/sae-formats.md written out plainly (double loops) to check encodes against.</summary>
static class RandomSae
{
    public const int DIn = 16, DSae = 48, K = 5;

    public static SaeWeights Make(SaeArchitecture arch, int seed, bool bDecOnInput = false, bool unitRows = false)
    {
        var rng = new Rng((ulong)seed + 1);
        float[] G(int n, float s) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = rng.NextGaussian() * s; return a; }
        var wDec = G(DSae * DIn, 0.4f);
        if (unitRows)
            for (int j = 0; j < DSae; j++)
            {
                var row = wDec.AsSpan(j * DIn, DIn);
                System.Numerics.Tensors.TensorPrimitives.Divide(row, System.Numerics.Tensors.TensorPrimitives.Norm(row), row);
            }
        float[]? threshold = arch switch
        {
            SaeArchitecture.JumpRelu => G(DSae, 1).Select(v => MathF.Abs(v) * 0.4f).ToArray(),
            SaeArchitecture.BatchTopK => Enumerable.Repeat(0.3f, DSae).ToArray(),
            _ => null,
        };
        return new SaeWeights(arch, DIn, DSae, arch is SaeArchitecture.TopK or SaeArchitecture.BatchTopK ? K : 0,
            G(DIn * DSae, 0.35f), G(DSae, 0.2f), wDec, G(DIn, 0.3f), threshold)
        {
            ApplyBDecToInput = bDecOnInput,
            Provenance = new SaeProvenance(ModelName: "google/gemma-2-2b", HookName: "blocks.3.hook_resid_post", ContextSize: 128, DatasetPath: "corpus.jsonl"),
        };
    }

    public static float[] Inputs(int rows, int seed, int dIn = DIn)
    {
        var rng = new Rng((ulong)seed + 1000);
        var x = new float[rows * dIn];
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextGaussian() * 1.5f + 0.2f;
        return x;
    }

    public static (float[] Codes, float[] Recon) Encode(SaeWeights w, float[] x, int rows)
    {
        var codes = new float[rows * w.DSae];
        var recon = new float[rows * w.DIn];
        w.Encode(x, rows, codes, recon);
        return (codes, recon);
    }

    /// <summary>‖a − b‖ / ‖b‖ (0 when both are zero).</summary>
    public static double Relative(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double d = 0, n = 0;
        for (int i = 0; i < a.Length; i++) { double e = a[i] - b[i]; d += e * e; n += (double)b[i] * b[i]; }
        return n == 0 ? Math.Sqrt(d) : Math.Sqrt(d / n);
    }

    public static void Same(float[] expected, float[] actual, double tolerance, string what)
    {
        double r = Relative(actual, expected);
        Assert.True(r <= tolerance, $"{what}: relative difference {r:E3} > {tolerance:E1}");
    }
}
