using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SaeCluster.Compute;

/// <summary>Elementwise kernels that System.Numerics.Tensors has no single call for.</summary>
public static class Elementwise
{
    /// <summary>x[i] = gate[i] &gt; 0 ? x[i] : 0 (a ReLU mask applied to a gradient).</summary>
    public static void KeepWherePositive(ReadOnlySpan<float> gate, Span<float> x)
    {
        if (gate.Length < x.Length) throw new ArgumentException("gate is shorter than x", nameof(gate));
        int i = 0;
        ref float g0 = ref MemoryMarshal.GetReference(gate);
        ref float x0 = ref MemoryMarshal.GetReference(x);
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= x.Length; i += 16)
            {
                var keep = Vector512.GreaterThan(Vector512.LoadUnsafe(ref g0, (nuint)i), Vector512<float>.Zero);
                Vector512.BitwiseAnd(Vector512.LoadUnsafe(ref x0, (nuint)i), keep.AsSingle()).StoreUnsafe(ref x0, (nuint)i);
            }
        for (; i < x.Length; i++) if (!(gate[i] > 0)) x[i] = 0;
    }
}
