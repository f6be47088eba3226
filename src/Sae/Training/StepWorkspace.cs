namespace SaeCluster.Sae;

/// <summary>
/// Scratch memory for one training or evaluation step, shared by every SAE of a trainer (they run one
/// after another on the same batch), sized for the widest. Allocated once; nothing in the step allocates.
/// </summary>
public sealed class StepWorkspace
{
    public int Batch { get; }
    public int DIn { get; }
    public int MaxWidth { get; }
    public float[] Xc { get; }      // [B, d]   x − b_dec (encoder input)
    public ushort[] XcBf16 { get; } // [B, d]
    public ushort[] WBf16 { get; }  // [n, d]   bf16 copy of W_encᵀ
    public float[] Pre { get; }     // [B, n]   pre-activations z
    /// <summary>[B, n] dL/dz for steps whose codes are dense (allocated on first use).</summary>
    public float[] CodeGrad => _codeGrad ??= GC.AllocateArray<float>(Batch * MaxWidth, pinned: true);
    float[]? _codeGrad;
    // AuxK over many dead latents (dense form), allocated on first use
    public float[] AuxRows => _auxRows ??= GC.AllocateArray<float>(MaxWidth * DIn, pinned: true);          // [m, d] W_dec[dead]
    public float[] AuxGradDecoder => _auxGradDec ??= GC.AllocateArray<float>(MaxWidth * DIn, pinned: true); // [m, d]
    public float[] AuxGradEncoder => _auxGradEnc ??= GC.AllocateArray<float>(MaxWidth * DIn, pinned: true); // [m, d]
    public float[] AuxGrad => _auxGrad ??= GC.AllocateArray<float>(Batch * DIn, pinned: true);             // [B, d]
    public ushort[] CodeBf16 => _codeBf16 ??= GC.AllocateArray<ushort>(Batch * MaxWidth, pinned: true);     // [B, m]
    public ushort[] GBf16 => _gBf16 ??= GC.AllocateArray<ushort>(Batch * DIn, pinned: true);               // [B, d]
    /// <summary>[2B, d] bf16 copy of <see cref="G"/>: the rows a bf16 sparse backward reads per entry (half the bytes).</summary>
    public ushort[] GRowsBf16 => _gRowsBf16 ??= GC.AllocateArray<ushort>(2 * Batch * DIn, pinned: true);
    float[]? _auxRows, _auxGradDec, _auxGradEnc, _auxGrad;
    ushort[]? _codeBf16, _gBf16, _gRowsBf16;
    public float[] XHat { get; }    // [B, d]
    public float[] G { get; }       // [2B, d]  dL/dx̂ (rows 0..B) and dL/dê for AuxK (rows B..2B)
    public float[] RowSqErr { get; }  // [B]
    public float[] RowAux { get; }    // [B]
    public float[] ColBuffer { get; } // [d]
    public float[] LatentBuffer { get; } // [n]
    public int[] RowCounts { get; }   // [B]
    public int[] RowCounts2 { get; }  // [B]
    public SparseCodes Main { get; } = new();
    public SparseCodes Aux { get; } = new();
    public SparseCodes Near { get; } = new();
    public LatentMajorEntries Entries { get; }

    public StepWorkspace(int batch, int dIn, int maxWidth, bool bf16)
    {
        Batch = batch; DIn = dIn; MaxWidth = maxWidth;
        long bd = (long)batch * dIn, bn = (long)batch * maxWidth;
        if (bn > Array.MaxLength) throw new ConfigException("batch", $"batch {batch} × width {maxWidth} is too large for one step; lower the batch size");
        Xc = GC.AllocateArray<float>((int)bd, pinned: true);
        XcBf16 = bf16 ? GC.AllocateArray<ushort>((int)bd, pinned: true) : [];
        WBf16 = bf16 ? GC.AllocateArray<ushort>(checked(maxWidth * dIn), pinned: true) : [];
        Pre = GC.AllocateArray<float>((int)bn, pinned: true);
        XHat = GC.AllocateArray<float>((int)bd, pinned: true);
        G = GC.AllocateArray<float>(checked((int)(2 * bd)), pinned: true);
        RowSqErr = new float[batch];
        RowAux = new float[batch];
        ColBuffer = new float[dIn];
        LatentBuffer = new float[maxWidth];
        RowCounts = new int[batch];
        RowCounts2 = new int[batch];
        Entries = new LatentMajorEntries(maxWidth);
    }
}
