using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// A trained SAE in raw activation units, as it is saved and loaded: pre = x·W_enc + b_enc,
/// f = act(pre), x̂ = f·W_dec + b_dec. The normalisation scale and the b_dec-before-encoder term used in
/// training are folded in, so no consumer needs to know about them.
/// </summary>
public sealed record SaeWeights(
    SaeArchitecture Architecture, int DIn, int DSae, int K,
    float[] WEnc,       // [d_in, d_sae]
    float[] BEnc,       // [d_sae]
    float[] WDec,       // [d_sae, d_in]
    float[] BDec,       // [d_in]
    float[]? Threshold) // [d_sae] JumpReLU / BatchTopK (one shared value)
{
    /// <summary>Folds training-time normalisation <paramref name="s"/> and b_dec into raw-unit weights.</summary>
    public static SaeWeights From(SaeLearner learner, float s)
    {
        var sae = learner.Sae;
        int d = sae.DIn, n = sae.DSae;
        float[] wEncT = sae.EncoderT.Value, bPrime = sae.DecoderBias.Value;
        // z_j = Σ_i (s·x_i − b'_i)·Wᵀ[j,i] + b_enc_j = x·(s·W_enc)[:, j] + (b_enc_j − b'·Wᵀ[j])
        var wEnc = new float[d * n];
        Parallel.For(0, d, i => { for (int j = 0; j < n; j++) wEnc[i * n + j] = s * wEncT[j * d + i]; });
        var bEnc = new float[n];
        for (int j = 0; j < n; j++) bEnc[j] = sae.EncoderBias.Value[j] - TensorPrimitives.Dot(bPrime, wEncT.AsSpan(j * d, d));
        // x̂ = (f·W_dec' + b')/s
        var wDec = new float[n * d];
        TensorPrimitives.Multiply(sae.Decoder.Value, 1f / s, wDec);
        var bDec = new float[d];
        TensorPrimitives.Multiply(bPrime, 1f / s, bDec);
        float[]? threshold = learner.Config.Architecture switch
        {
            SaeArchitecture.JumpRelu => sae.LogThreshold!.Value.Select(MathF.Exp).ToArray(),
            SaeArchitecture.BatchTopK => Enumerable.Repeat(learner.BatchThreshold > 0 ? learner.BatchThreshold : 0f, n).ToArray(),
            _ => null,
        };
        return new SaeWeights(learner.Config.Architecture, d, n, learner.Config.K, wEnc, bEnc, wDec, bDec, threshold);
    }

    /// <summary>The architecture as saved: BatchTopK becomes a JumpReLU with one shared threshold.</summary>
    public string SavedArchitecture => Architecture switch
    {
        SaeArchitecture.Relu => "standard",
        SaeArchitecture.TopK => "topk",
        _ => "jumprelu",
    };

    /// <summary>Writes <c>sae.safetensors</c> (W_enc, W_dec, b_enc, b_dec, threshold).</summary>
    public void WriteSafetensors(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var w = new SafetensorsWriter();
        w.AddBorrowed("W_enc", WEnc, [DIn, DSae]);
        w.AddBorrowed("W_dec", WDec, [DSae, DIn]);
        w.AddBorrowed("b_enc", BEnc, [DSae]);
        w.AddBorrowed("b_dec", BDec, [DIn]);
        if (Threshold != null) w.AddBorrowed("threshold", Threshold, [DSae]);
        if (metadata != null) foreach (var (k, v) in metadata) w.Metadata[k] = v;
        w.Write(path);
    }

    /// <summary>Reads a file written by <see cref="WriteSafetensors"/>.</summary>
    public static SaeWeights Read(string path, SaeArchitecture architecture, int k)
    {
        using var f = SafetensorsFile.Open(path);
        var wEnc = f.Get("W_enc");
        if (wEnc.Shape.Length != 2) throw new DataException(path, $"W_enc must be 2-D, has shape [{string.Join(", ", wEnc.Shape)}]");
        int d = (int)wEnc.Shape[0], n = (int)wEnc.Shape[1];
        float[] Load(string name, params long[] shape)
        {
            var info = f.Get(name);
            if (!info.Shape.SequenceEqual(shape)) throw new DataException(path, $"{name} has shape [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", shape)}]");
            return f.ReadAllAsFloat(name);
        }
        return new SaeWeights(architecture, d, n, k, Load("W_enc", d, n), Load("b_enc", n), Load("W_dec", n, d), Load("b_dec", d),
            f.TryGet("threshold", out _) ? Load("threshold", n) : null);
    }
}
