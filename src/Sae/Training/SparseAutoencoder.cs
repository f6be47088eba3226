using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// The trainable tensors of one SAE, in the layout the trainer wants: the encoder is kept transposed
/// (W_encᵀ, [d_sae, d_in]) so that latent j's encoder and decoder directions are both contiguous rows —
/// the sparse backward then touches whole rows only. Exports transpose back to W_enc [d_in, d_sae].
/// Training runs on normalised inputs x' = s·x with b_dec subtracted before the encoder:
///   pre = (x' − b_dec) · W_encᵀᵀ + b_enc,  x̂' = f · W_dec + b_dec.
/// </summary>
public sealed class SparseAutoencoder
{
    public int DIn { get; }
    public int DSae { get; }
    public Parameter EncoderT { get; }    // [d_sae, d_in]
    public Parameter EncoderBias { get; } // [d_sae]
    public Parameter Decoder { get; }     // [d_sae, d_in]
    public Parameter DecoderBias { get; } // [d_in]
    /// <summary>JumpReLU only: log θ per latent [d_sae].</summary>
    public Parameter? LogThreshold { get; }
    public IReadOnlyList<Parameter> Parameters { get; }

    public SparseAutoencoder(int dIn, int dSae, bool jumpRelu)
    {
        DIn = dIn; DSae = dSae;
        EncoderT = new Parameter("W_enc_t", dSae, dIn);
        EncoderBias = new Parameter("b_enc", dSae);
        Decoder = new Parameter("W_dec", dSae, dIn);
        DecoderBias = new Parameter("b_dec", dIn);
        if (jumpRelu) LogThreshold = new Parameter("log_threshold", dSae);
        Parameters = LogThreshold is null
            ? [EncoderT, EncoderBias, Decoder, DecoderBias]
            : [EncoderT, EncoderBias, Decoder, DecoderBias, LogThreshold];
    }

    /// <summary>
    /// Random decoder directions (He-uniform, then rows scaled to <paramref name="decoderNorm"/>), tied
    /// encoder W_encᵀ = W_dec, zero biases, θ = thresholdInit.
    /// </summary>
    public void Initialize(ulong seed, float decoderNorm, float thresholdInit)
    {
        var rng = new Rng(seed);
        float bound = MathF.Sqrt(6f / DIn);
        var w = Decoder.Value;
        for (int i = 0; i < w.Length; i++) w[i] = (2 * rng.NextFloat() - 1) * bound;
        for (int j = 0; j < DSae; j++)
        {
            var row = w.AsSpan(j * DIn, DIn);
            float norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(row));
            System.Numerics.Tensors.TensorPrimitives.Multiply(row, decoderNorm / Math.Max(norm, 1e-12f), row);
        }
        Array.Copy(w, EncoderT.Value, w.Length);
        Array.Clear(EncoderBias.Value);
        Array.Clear(DecoderBias.Value);
        if (LogThreshold != null) Array.Fill(LogThreshold.Value, MathF.Log(thresholdInit));
    }

    public Span<float> DecoderRow(int j) => Decoder.Value.AsSpan(j * DIn, DIn);
    public Span<float> EncoderRow(int j) => EncoderT.Value.AsSpan(j * DIn, DIn);
}
