namespace SaeCluster.Sae;

/// <summary>Sequence positions grouped by powers of two — [1, 2), [2, 4), [4, 8), … — as Gemma Scope's reconstruction-by-position figure.</summary>
public static class PositionBuckets
{
    public static int Count(int context) => Of(context - 1) + 1;

    /// <summary>The bucket of position <paramref name="p"/> ≥ 1 (position 0 is BOS and has bucket 0 with position 1).</summary>
    public static int Of(int p) => p <= 1 ? 0 : 31 - System.Numerics.BitOperations.LeadingZeroCount((uint)p);

    public static (int From, int To) Range(int bucket, int context) => (bucket == 0 ? 1 : 1 << bucket, Math.Min(context, 1 << (bucket + 1)));
}
