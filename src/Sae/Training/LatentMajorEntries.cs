namespace SaeCluster.Sae;

/// <summary>
/// The step's sparse entries regrouped by latent (a CSC view), so the backward pass can give each latent's
/// rows (W_dec[j], W_encᵀ[j]) to exactly one thread: no atomics, and the result is the same on every run.
/// Within a latent, entries keep token order.
/// </summary>
public sealed class LatentMajorEntries
{
    public const byte Active = 1;  // reconstruction path through f (main or AuxK code)
    public const byte NearThreshold = 2; // JumpReLU: |z − θ| < ε/2, for the threshold's STE gradient

    public int[] ColStart { get; }   // [n + 1]
    public int[] Token { get; private set; } = [];
    public int[] GRow { get; private set; } = []; // row of the workspace G holding dL/d(output) for this entry
    public float[] Value { get; private set; } = [];
    public byte[] Kind { get; private set; } = [];
    readonly int[] _cursor;

    public LatentMajorEntries(int maxWidth)
    {
        ColStart = new int[maxWidth + 1];
        _cursor = new int[maxWidth];
    }

    /// <summary>Rebuilds from up to three token-major code sets (null = absent).</summary>
    public void Build(int width, SparseCodes? main, SparseCodes? aux, int auxGRowOffset, SparseCodes? near)
    {
        long total = (main?.Nnz ?? 0) + (aux?.Nnz ?? 0) + (near?.Nnz ?? 0);
        if (total > Array.MaxLength) throw new InvalidOperationException("too many sparse entries in one step; lower the batch size");
        if (Token.Length < total)
        {
            long cap = Math.Min(Array.MaxLength, total + total / 4);
            Token = new int[cap]; GRow = new int[cap]; Value = new float[cap]; Kind = new byte[cap];
        }
        var start = ColStart.AsSpan(0, width + 1);
        start.Clear();
        if (main != null) Count(main, start);
        if (aux != null) Count(aux, start); if (near != null) Count(near, start);
        int s = 0;
        for (int j = 0; j < width; j++) { int c = start[j + 1]; start[j] = s; _cursor[j] = s; s += c; }
        start[width] = s;
        // token-major order within each latent: main rows, then aux rows (distinct G rows), then near
        if (main != null) Fill(main, 0, Active);
        if (aux != null) Fill(aux, auxGRowOffset, Active);
        if (near != null) Fill(near, 0, NearThreshold);
    }

    static void Count(SparseCodes codes, Span<int> start)
    {
        for (int b = 0; b < codes.Rows; b++)
            foreach (int j in codes.RowCols(b)) start[j + 1]++;
    }

    void Fill(SparseCodes codes, int gRowOffset, byte kind)
    {
        for (int b = 0; b < codes.Rows; b++)
        {
            var cols = codes.RowCols(b); var vals = codes.RowVals(b);
            for (int i = 0; i < cols.Length; i++)
            {
                int p = _cursor[cols[i]]++;
                Token[p] = b; GRow[p] = b + gRowOffset; Value[p] = vals[i]; Kind[p] = kind;
            }
        }
    }
}
