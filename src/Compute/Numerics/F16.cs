using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace SaeCluster.Compute;

/// <summary>IEEE binary16 stored as ushort: conversions to and from float32 (round to nearest even), vectorized by TensorPrimitives.</summary>
public static class F16
{
    public static float ToSingle(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    public static ushort FromSingle(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    /// <summary>dst[i] = float(src[i]); dst must be at least as long as src.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(src), dst);

    /// <summary>dst[i] = half(src[i]); dst must be at least as long as src.</summary>
    public static void FromSingle(ReadOnlySpan<float> src, Span<ushort> dst) =>
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<ushort, Half>(dst));
}
