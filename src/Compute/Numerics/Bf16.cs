using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SaeCluster.Compute;

/// <summary>bfloat16 stored as ushort: conversions to and from float32 (round to nearest even).</summary>
public static unsafe class Bf16
{
    /// <summary>Spans longer than this are converted by Parallel.For over <see cref="ParallelChunk"/>-sized chunks.</summary>
    internal const int ParallelThreshold = 1 << 20;
    internal const int ParallelChunk = 1 << 18;

    public static float ToSingle(ushort h) => BitConverter.Int32BitsToSingle(h << 16);

    public static ushort FromSingle(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 0x40); // quiet NaN
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }

    /// <summary>dst[i] = float(src[i]); dst must be at least as long as src.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length)
            throw new ArgumentException($"Destination ({dst.Length}) is shorter than the source ({src.Length}).", nameof(dst));
        fixed (ushort* ps = src)
        fixed (float* pd = dst)
        {
            if (!IsLarge(src.Length)) { ToSingleCore(ps, pd, src.Length, MaxVectorBits); return; }
            nint s = (nint)ps, d = (nint)pd;
            ForChunks(src.Length, (start, len) => ToSingleCore((ushort*)s + start, (float*)d + start, len, MaxVectorBits));
        }
    }

    /// <summary>dst[i] = bf16(src[i]) with round-to-nearest-even; NaN stays NaN (quieted). dst must be at least as long as src.</summary>
    public static void FromSingle(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length)
            throw new ArgumentException($"Destination ({dst.Length}) is shorter than the source ({src.Length}).", nameof(dst));
        fixed (float* ps = src)
        fixed (ushort* pd = dst)
        {
            if (!IsLarge(src.Length)) { FromSingleCore(ps, pd, src.Length, MaxVectorBits); return; }
            nint s = (nint)ps, d = (nint)pd;
            ForChunks(src.Length, (start, len) => FromSingleCore((float*)s + start, (ushort*)d + start, len, MaxVectorBits));
        }
    }

    /// <summary>Σ float(a[i]) · b[i] over a bf16 row and a float32 row of the same length (float32 accumulation).</summary>
    public static float Dot(ReadOnlySpan<ushort> a, ReadOnlySpan<float> b)
    {
        if (b.Length != a.Length) throw new ArgumentException($"lengths differ ({a.Length} and {b.Length})", nameof(b));
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && a.Length >= 32)
        {
            var acc0 = Vector512<float>.Zero; var acc1 = Vector512<float>.Zero;
            ref ushort a0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(a);
            ref float b0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(b);
            for (; i + 32 <= a.Length; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref a0, (nuint)i));
                acc0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(lo, 16).AsSingle(), Vector512.LoadUnsafe(ref b0, (nuint)i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(hi, 16).AsSingle(), Vector512.LoadUnsafe(ref b0, (nuint)(i + 16)), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        for (; i < a.Length; i++) sum += ToSingle(a[i]) * b[i];
        return sum;
    }

    /// <summary>acc[i] += s · float(a[i]) for a bf16 row <paramref name="a"/> and a float32 accumulator of the same length.</summary>
    public static void MultiplyAdd(ReadOnlySpan<ushort> a, float s, Span<float> acc)
    {
        if (acc.Length != a.Length) throw new ArgumentException($"lengths differ ({a.Length} and {acc.Length})", nameof(acc));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            ref ushort a0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(a);
            ref float c0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(acc);
            for (; i + 32 <= a.Length; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref a0, (nuint)i));
                Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(lo, 16).AsSingle(), vs, Vector512.LoadUnsafe(ref c0, (nuint)i)).StoreUnsafe(ref c0, (nuint)i);
                Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(hi, 16).AsSingle(), vs, Vector512.LoadUnsafe(ref c0, (nuint)(i + 16))).StoreUnsafe(ref c0, (nuint)(i + 16));
            }
        }
        for (; i < a.Length; i++) acc[i] += s * ToSingle(a[i]);
    }

    static bool IsLarge(int n) => n > ParallelThreshold && Environment.ProcessorCount > 1;

    // body(start, length) over fixed chunks of [0, n), in parallel
    static void ForChunks(int n, Action<int, int> body) =>
        Parallel.For(0, (n + ParallelChunk - 1) / ParallelChunk, chunk =>
        {
            int start = chunk * ParallelChunk;
            body(start, Math.Min(ParallelChunk, n - start));
        });

    /// <summary>Widest accelerated vector (512, 256 or 0 = scalar only).</summary>
    internal static int MaxVectorBits =>
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 0;

    /// <summary>Single-threaded kernel; <paramref name="vectorBits"/> caps the vector width (tests use it to cover every path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ToSingleCore(ushort* src, float* dst, int n, int vectorBits)
    {
        int i = 0;
        if (vectorBits >= 512 && Vector512.IsHardwareAccelerated)
        {
            // 32 × u16 → 2 × (16 × u32 << 16)
            for (; i <= n - 32; i += 32)
            {
                (Vector512<uint> lo, Vector512<uint> hi) = Vector512.Widen(Vector512.Load(src + i));
                Vector512.ShiftLeft(lo, 16).AsSingle().Store(dst + i);
                Vector512.ShiftLeft(hi, 16).AsSingle().Store(dst + i + 16);
            }
        }
        if (vectorBits >= 256 && Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.Load(src + i));
                Vector256.ShiftLeft(lo, 16).AsSingle().Store(dst + i);
                Vector256.ShiftLeft(hi, 16).AsSingle().Store(dst + i + 8);
            }
        }
        for (; i < n; i++)
            dst[i] = ToSingle(src[i]);
    }

    /// <inheritdoc cref="ToSingleCore"/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void FromSingleCore(float* src, ushort* dst, int n, int vectorBits)
    {
        int i = 0;
        if (vectorBits >= 512 && Vector512.IsHardwareAccelerated)
        {
            // 2 × 16 × f32 → 32 × u16
            for (; i <= n - 32; i += 32)
            {
                Vector512<uint> lo = Round(Vector512.Load(src + i).AsUInt32());
                Vector512<uint> hi = Round(Vector512.Load(src + i + 16).AsUInt32());
                Vector512.Narrow(lo, hi).Store(dst + i);
            }
        }
        if (vectorBits >= 256 && Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 16; i += 16)
            {
                Vector256<uint> lo = Round(Vector256.Load(src + i).AsUInt32());
                Vector256<uint> hi = Round(Vector256.Load(src + i + 8).AsUInt32());
                Vector256.Narrow(lo, hi).Store(dst + i);
            }
        }
        for (; i < n; i++)
            dst[i] = FromSingle(src[i]);
    }

    // Same arithmetic as the scalar FromSingle, lane-wise; the result is in the low 16 bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Round(Vector512<uint> u)
    {
        Vector512<uint> rounded = (u + (Vector512.Create(0x7FFFu) + ((u >> 16) & Vector512<uint>.One))) >> 16;
        Vector512<uint> isNaN = Vector512.GreaterThan(u & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u));
        return Vector512.ConditionalSelect(isNaN, (u >> 16) | Vector512.Create(0x40u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Round(Vector256<uint> u)
    {
        Vector256<uint> rounded = (u + (Vector256.Create(0x7FFFu) + ((u >> 16) & Vector256<uint>.One))) >> 16;
        Vector256<uint> isNaN = Vector256.GreaterThan(u & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        return Vector256.ConditionalSelect(isNaN, (u >> 16) | Vector256.Create(0x40u), rounded);
    }
}
