namespace SaeCluster.Compute;

/// <summary>Stored floating-point elements (F32, F16, BF16, F64: little-endian) to float32, the one conversion every tensor container uses.</summary>
public static unsafe class FloatConversion
{
    /// <summary>Whether <paramref name="dtype"/> converts to float32.</summary>
    public static bool IsFloat(SafetensorsDtype dtype) => dtype is SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 or SafetensorsDtype.F64;

    /// <summary>
    /// dst[i] = float(element i at <paramref name="src"/>), for dst.Length elements (a pointer, so a memory-mapped tensor
    /// of more than 2 GB converts in one call); F64 rounds to nearest even. False, with nothing written, for a dtype
    /// that is not floating point.
    /// </summary>
    public static bool TryToSingle(SafetensorsDtype dtype, byte* src, Span<float> dst)
    {
        switch (dtype)
        {
            case SafetensorsDtype.F32:
                new ReadOnlySpan<float>(src, dst.Length).CopyTo(dst);
                return true;
            case SafetensorsDtype.F16:
                F16.ToSingle(new ReadOnlySpan<ushort>(src, dst.Length), dst);
                return true;
            case SafetensorsDtype.BF16:
                Bf16.ToSingle(new ReadOnlySpan<ushort>(src, dst.Length), dst);
                return true;
            case SafetensorsDtype.F64:
                var doubles = new ReadOnlySpan<double>(src, dst.Length);
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)doubles[i];
                return true;
            default:
                return false;
        }
    }

    /// <summary>The same for elements held in <paramref name="src"/>, which must hold at least dst.Length of them.</summary>
    public static bool TryToSingle(SafetensorsDtype dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (IsFloat(dtype) && src.Length < (long)dst.Length * dtype.ElementSize())
            throw new ArgumentException($"{src.Length} bytes hold fewer than {dst.Length} {dtype} elements", nameof(src));
        fixed (byte* p = src) return TryToSingle(dtype, p, dst);
    }
}
