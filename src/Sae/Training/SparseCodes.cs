namespace SaeCluster.Sae;

/// <summary>
/// Token-major sparse code matrix: row b holds Count[b] entries at Col/Val[Start[b] ..]. Rows may leave
/// gaps (fixed-stride layouts for top-k), so Start/Count rather than a dense prefix sum.
/// </summary>
public sealed class SparseCodes
{
    public int Rows { get; private set; }
    public int[] Start { get; private set; } = [];
    public int[] Count { get; private set; } = [];
    public int[] Col { get; private set; } = [];
    public float[] Val { get; private set; } = [];

    public void Reset(int rows, long capacity)
    {
        Rows = rows;
        if (Start.Length < rows) { Start = new int[rows]; Count = new int[rows]; }
        if (capacity > Array.MaxLength) throw new InvalidOperationException($"sparse code buffer of {capacity} entries is too large; lower the batch size");
        if (Col.Length < capacity) { Col = new int[capacity]; Val = new float[capacity]; }
    }

    /// <summary>Fixed stride: row b starts at b·stride.</summary>
    public void ResetStrided(int rows, int stride)
    {
        Reset(rows, (long)rows * stride);
        for (int b = 0; b < rows; b++) { Start[b] = b * stride; Count[b] = 0; }
    }

    /// <summary>Variable rows: Start is the prefix sum of the given counts.</summary>
    public void ResetFromCounts(ReadOnlySpan<int> counts)
    {
        long total = 0;
        foreach (int c in counts) total += c;
        Reset(counts.Length, total);
        int s = 0;
        for (int b = 0; b < counts.Length; b++) { Start[b] = s; Count[b] = counts[b]; s += counts[b]; }
    }

    public long Nnz
    {
        get { long n = 0; for (int b = 0; b < Rows; b++) n += Count[b]; return n; }
    }

    public Span<int> RowCols(int b) => Col.AsSpan(Start[b], Count[b]);
    public Span<float> RowVals(int b) => Val.AsSpan(Start[b], Count[b]);
}
