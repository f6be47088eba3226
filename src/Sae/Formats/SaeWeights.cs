using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// An SAE for inference, in raw activation units, whatever file it came from:
/// <code>
/// x'  = norm_in(x) − b_dec   (the subtraction only when ApplyBDecToInput)
/// pre = x'·W_enc + b_enc
/// f   = relu(pre)                       Relu
///       top-k of relu(pre) per row      TopK
///       relu(pre)·[pre > θ_j]           JumpRelu; BatchTopK (one θ shared by every latent)
/// x̂   = norm_out(f·W_dec + b_dec)
/// </code>
/// Every format's maths maps onto this exactly (../shared/reference/sae-formats.md §0): dictionary_learning's
/// BatchTopK threshold on relu(pre) and its JumpReLU relu(pre·[pre > θ]) are the same function, and SAELens'
/// decoder-norm rescaling of TopK is folded into the weights when read.
/// </summary>
public sealed record SaeWeights(
    SaeArchitecture Architecture, int DIn, int DSae, int K,
    float[] WEnc,       // [d_in, d_sae]
    float[] BEnc,       // [d_sae]
    float[] WDec,       // [d_sae, d_in]
    float[] BDec,       // [d_in]
    float[]? Threshold) // [d_sae] JumpReLU / BatchTopK (one shared value)
{
    /// <summary>Whether b_dec is subtracted from the input before the encoder (SAELens <c>apply_b_dec_to_input</c>).</summary>
    public bool ApplyBDecToInput { get; init; }
    public ActivationNormalization Normalization { get; init; } = ActivationNormalization.None;
    /// <summary>SAELens <c>reshape_activations: hook_z</c>: the input is [.., heads, d_head], flattened to d_in.</summary>
    public bool HookZ { get; init; }
    /// <summary>The dtype the weights were stored in; they are held as float32 (exact for F16/BF16).</summary>
    public SafetensorsDtype StoredDtype { get; init; } = SafetensorsDtype.F32;
    public SaeProvenance Provenance { get; init; } = SaeProvenance.Unknown;
    /// <summary>log10 of each latent's firing fraction (SAELens <c>sparsity.safetensors</c>), where known.</summary>
    public float[]? LogSparsity { get; init; }

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

    /// <summary>Whether the activation is a threshold per latent (JumpReLU, and BatchTopK at inference).</summary>
    public bool UsesThreshold => Architecture is SaeArchitecture.JumpRelu or SaeArchitecture.BatchTopK;

    /// <summary>
    /// Checks shapes, k and that every value is finite. <paramref name="names"/> maps our tensor names
    /// (W_enc, b_enc, W_dec, b_dec, threshold) to the file's, so the error names what the file calls it.
    /// </summary>
    public SaeWeights Validate(string file, IReadOnlyDictionary<string, string>? names = null)
    {
        string N(string ours) => names != null && names.TryGetValue(ours, out var theirs) ? theirs : ours;
        if (DIn < 1 || DSae < 1) throw new DataException(file, $"d_in = {DIn} and d_sae = {DSae} must both be ≥ 1");
        Check(WEnc, (long)DIn * DSae, "W_enc"); Check(BEnc, DSae, "b_enc"); Check(WDec, (long)DSae * DIn, "W_dec"); Check(BDec, DIn, "b_dec");
        if (UsesThreshold)
        {
            if (Threshold == null) throw new DataException(file, $"{N("threshold")}: missing ({Architecture.ToName()} needs a threshold)");
            Check(Threshold, DSae, "threshold");
        }
        if (Architecture is SaeArchitecture.TopK or SaeArchitecture.BatchTopK && (K < 1 || K > DSae))
            throw new DataException(file, $"k = {K} must be in 1..d_sae ({DSae})");
        if (LogSparsity != null && LogSparsity.Length != DSae)
            throw new DataException(file, $"sparsity has {LogSparsity.Length} values, expected d_sae = {DSae}");
        return this;

        void Check(float[] a, long expected, string name)
        {
            if (a.LongLength != expected) throw new DataException(file, $"{N(name)} has {a.LongLength:N0} values, expected {expected:N0}");
            int bad = FirstNonFinite(a);
            if (bad >= 0) throw new DataException(file, $"{N(name)} holds {a[bad]} at flat index {bad:N0}");
        }
    }

    static int FirstNonFinite(ReadOnlySpan<float> a)
    {
        for (int i = 0; i < a.Length; i++) if (!float.IsFinite(a[i])) return i;
        return -1;
    }

    /// <summary>‖W_dec[j, :]‖ for every latent.</summary>
    public float[] DecoderRowNorms()
    {
        var norms = new float[DSae];
        for (int j = 0; j < DSae; j++) norms[j] = TensorPrimitives.Norm(WDec.AsSpan(j * DIn, DIn));
        return norms;
    }

    /// <summary>The same SAE with b_dec folded into b_enc, so the input is not shifted: b_enc − b_dec·W_enc.</summary>
    public SaeWeights WithoutBDecOnInput() => ApplyBDecToInput ? ShiftEncoderBias(-1) with { ApplyBDecToInput = false } : this;

    /// <summary>The same SAE written so that b_dec is subtracted from the input: b_enc + b_dec·W_enc.</summary>
    public SaeWeights WithBDecOnInput() => ApplyBDecToInput ? this : ShiftEncoderBias(+1) with { ApplyBDecToInput = true };

    SaeWeights ShiftEncoderBias(int sign)
    {
        var shift = new double[DSae];
        for (int i = 0; i < DIn; i++)
        {
            double b = BDec[i];
            var row = WEnc.AsSpan(i * DSae, DSae);
            for (int j = 0; j < DSae; j++) shift[j] += b * row[j];
        }
        var bEnc = new float[DSae];
        for (int j = 0; j < DSae; j++) bEnc[j] = (float)(BEnc[j] + sign * shift[j]);
        return this with { BEnc = bEnc };
    }

    /// <summary>
    /// The same reconstruction with unit-norm decoder rows: W_dec[j] /= n_j, W_enc[:, j], b_enc[j] and θ_j ·= n_j.
    /// Codes scale by n_j (what dictionary_learning's loader does to a decoder that is not unit norm).
    /// </summary>
    public SaeWeights WithUnitDecoderRows(float[] norms)
    {
        var scale = norms.Select(n => n > 0 ? n : 1f).ToArray(); // an all-zero row stays as it is
        var wEnc = new float[WEnc.Length];
        var wDec = new float[WDec.Length];
        var bEnc = new float[DSae];
        TensorPrimitives.Multiply(BEnc, scale, bEnc);
        float[]? threshold = null;
        if (Threshold != null) TensorPrimitives.Multiply(Threshold, scale, threshold = new float[DSae]);
        for (int j = 0; j < DSae; j++) TensorPrimitives.Divide(WDec.AsSpan(j * DIn, DIn), scale[j], wDec.AsSpan(j * DIn, DIn));
        Parallel.For(0, DIn, i => TensorPrimitives.Multiply(WEnc.AsSpan(i * DSae, DSae), scale, wEnc.AsSpan(i * DSae, DSae)));
        return this with { WEnc = wEnc, WDec = wDec, BEnc = bEnc, Threshold = threshold };
    }

    /// <summary>Whether every decoder row has unit norm within <paramref name="rtol"/> (dictionary_learning: allclose, rtol 1e-5, atol 1e-8).</summary>
    public bool HasUnitDecoderRows(double rtol = 1e-5, double atol = 1e-8) => DecoderRowNorms().All(n => Math.Abs(n - 1) <= atol + rtol);

    /// <summary>The shared threshold of a BatchTopK SAE, or θ when every latent of a JumpReLU has the same one.</summary>
    public float? SharedThreshold => Threshold != null && Threshold.Length > 0 && !Threshold.AsSpan().ContainsAnyExcept(Threshold[0]) ? Threshold[0] : null;

    /// <summary>
    /// Encodes <paramref name="rows"/> inputs [rows, d_in] into dense codes [rows, d_sae] and reconstructions
    /// [rows, d_in], in float32 with the maths in the summary. Rows are processed in blocks, in parallel.
    /// </summary>
    public void Encode(ReadOnlySpan<float> x, int rows, Span<float> codes, Span<float> recon)
    {
        long dIn = DIn, dSae = DSae;
        if (x.Length < rows * dIn) throw new ArgumentException($"x holds {x.Length} values, {rows} rows need {rows * dIn}", nameof(x));
        if (codes.Length < rows * dSae || recon.Length < rows * dIn) throw new ArgumentException("codes or recon is too short");
        var xin = x[..(int)(rows * dIn)].ToArray(); // [rows, d_in]
        var scale = new float[rows];
        var shift = new float[rows];
        NormalizeIn(xin, rows, scale, shift);
        if (ApplyBDecToInput)
            for (int r = 0; r < rows; r++) TensorPrimitives.Subtract(xin.AsSpan(r * DIn, DIn), BDec, xin.AsSpan(r * DIn, DIn));
        // pre = x'·W_enc + b_enc, [rows, d_sae]
        var pre = codes[..(int)(rows * dSae)];
        Gemm.Sgemm(false, false, rows, DSae, DIn, 1f, xin, DIn, WEnc, DSae, 0f, pre, DSae);
        ActivateRows(pre, rows);
        // x̂ = f·W_dec + b_dec, [rows, d_in]
        var xhat = recon[..(int)(rows * dIn)];
        Gemm.Sgemm(false, false, rows, DIn, DSae, 1f, pre, DSae, WDec, DIn, 0f, xhat, DIn);
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(xhat.Slice(r * DIn, DIn), BDec, xhat.Slice(r * DIn, DIn));
        NormalizeOut(xhat, rows, scale, shift);
    }

    // pre (with b_enc still to add) → f, in place
    void ActivateRows(Span<float> pre, int rows)
    {
        unsafe
        {
            fixed (float* p = pre)
            {
                float* basePtr = p;
                Parallel.For(0, rows, () => (new int[Math.Max(1, K)], new float[Math.Max(1, K)]), (r, _, scratch) =>
                {
                    var row = new Span<float>(basePtr + (long)r * DSae, DSae);
                    TensorPrimitives.Add(row, BEnc, row);
                    switch (Architecture)
                    {
                        case SaeArchitecture.Relu:
                            TensorPrimitives.Max(row, 0f, row);
                            break;
                        case SaeArchitecture.TopK:
                            int found = TopK.RowTopKPositive(row, K, scratch.Item1, scratch.Item2);
                            row.Clear();
                            for (int i = 0; i < found; i++) row[scratch.Item1[i]] = scratch.Item2[i];
                            break;
                        default:
                            var theta = Threshold!;
                            for (int j = 0; j < row.Length; j++)
                            {
                                float z = row[j];
                                row[j] = z > theta[j] && z > 0 ? z : 0f;
                            }
                            break;
                    }
                    return scratch;
                }, _ => { });
            }
        }
    }

    void NormalizeIn(float[] x, int rows, float[] scale, float[] shift)
    {
        switch (Normalization)
        {
            case ActivationNormalization.ConstantNormRescale:
                for (int r = 0; r < rows; r++)
                {
                    var row = x.AsSpan(r * DIn, DIn);
                    scale[r] = MathF.Sqrt(DIn) / TensorPrimitives.Norm(row);
                    TensorPrimitives.Multiply(row, scale[r], row);
                }
                break;
            case ActivationNormalization.LayerNorm:
                for (int r = 0; r < rows; r++)
                {
                    var row = x.AsSpan(r * DIn, DIn);
                    float mu = TensorPrimitives.Sum(row) / DIn;
                    TensorPrimitives.Subtract(row, mu, row);
                    float std = MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / Math.Max(1, DIn - 1)); // unbiased, as torch's std
                    TensorPrimitives.Divide(row, std + 1e-5f, row);
                    scale[r] = std;
                    shift[r] = mu;
                }
                break;
        }
    }

    void NormalizeOut(Span<float> xhat, int rows, float[] scale, float[] shift)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = xhat.Slice(r * DIn, DIn);
            if (Normalization == ActivationNormalization.ConstantNormRescale) TensorPrimitives.Divide(row, scale[r], row);
            else if (Normalization == ActivationNormalization.LayerNorm)
            {
                TensorPrimitives.Multiply(row, scale[r], row);
                TensorPrimitives.Add(row, shift[r], row);
            }
        }
    }
}
