namespace SaeCluster.Compute;

/// <summary>bfloat16 stored as ushort: conversions to and from float32 (round to nearest even).</summary>
public static class Bf16
{
    public static float ToSingle(ushort h) => BitConverter.Int32BitsToSingle(h << 16);

    public static ushort FromSingle(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 0x40); // quiet NaN
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    // PLACEHOLDER scalar loops (replaced by SIMD)
    public static void ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = ToSingle(src[i]);
    }

    public static void FromSingle(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = FromSingle(src[i]);
    }
}
