using System.Numerics.Tensors;

namespace SaeCluster.Models;

/// <summary>
/// The activations of one chunk of contexts at every selected site (trainable positions only, in order):
/// <see cref="Acts"/>[site] is [n, Widths[site]] row-major, with the n tokens and their positions.
/// </summary>
public sealed record CapturedChunk(int[] Tokens, int[] Positions, List<float>[] Acts, int[] Widths, int ContextSize)
{
    /// <summary>Per site, s with E‖s·x‖² = 1 over the rows of this chunk (1 when there are none).</summary>
    public float[] NormScales() => Acts.Select((a, i) => NormScale(a, Widths[i])).ToArray();

    static float NormScale(List<float> acts, int width)
    {
        if (acts.Count == 0) return 1f;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(acts);
        double sumSq = 0;
        for (int i = 0; i < span.Length; i += 1 << 16) sumSq += TensorPrimitives.SumOfSquares(span.Slice(i, Math.Min(1 << 16, span.Length - i)));
        double meanSq = sumSq / (acts.Count / width);
        return meanSq > 0 ? (float)(1 / Math.Sqrt(meanSq)) : 1f;
    }
}
