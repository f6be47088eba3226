using SaeCluster.Compute;

namespace SaeCluster.Compute.Tests;

public unsafe class Bf16Tests
{
    // Every vector path (512 / 256 where accelerated, else it degrades to the next) and the scalar loop.
    public static readonly TheoryData<int> VectorWidths = new() { 512, 256, 0 };

    private static ushort[] AllPatterns()
    {
        var h = new ushort[65536];
        for (int i = 0; i < h.Length; i++) h[i] = (ushort)i;
        return h;
    }

    private static bool IsNaNBf16(ushort h) => (h & 0x7F80) == 0x7F80 && (h & 0x007F) != 0;

    [Theory]
    [MemberData(nameof(VectorWidths))]
    public void AllPatterns_RoundTripExactly_NaNStaysNaN(int vectorBits)
    {
        ushort[] h = AllPatterns();
        var f = new float[h.Length];
        var back = new ushort[h.Length];
        fixed (ushort* ph = h)
        fixed (float* pf = f)
        fixed (ushort* pb = back)
        {
            Bf16.ToSingleCore(ph, pf, h.Length, vectorBits);
            Bf16.FromSingleCore(pf, pb, h.Length, vectorBits);
        }
        for (int i = 0; i < h.Length; i++)
        {
            Assert.Equal(h[i] << 16, BitConverter.SingleToInt32Bits(f[i]));
            if (IsNaNBf16(h[i]))
            {
                Assert.True(float.IsNaN(f[i]));
                Assert.True(IsNaNBf16(back[i]), $"0x{h[i]:X4} → 0x{back[i]:X4} is not NaN");
                Assert.Equal(h[i] & 0x8000, back[i] & 0x8000);
            }
            else
            {
                Assert.Equal(h[i], back[i]);
            }
        }
    }

    [Fact]
    public void AllPatterns_PublicSpanApi_RoundTrip()
    {
        ushort[] h = AllPatterns();
        var f = new float[h.Length];
        var back = new ushort[h.Length];
        Bf16.ToSingle(h, f);
        Bf16.FromSingle(f, back);
        for (int i = 0; i < h.Length; i++)
            Assert.True(IsNaNBf16(h[i]) ? IsNaNBf16(back[i]) : back[i] == h[i], $"0x{h[i]:X4} → 0x{back[i]:X4}");
    }

    // (f32 bits, expected bf16 bits)
    private static readonly (uint F, ushort H)[] RoundingCases =
    [
        (0x3F80_8000, 0x3F80), // 1 + 2^-8: tie, even mantissa stays
        (0x3F81_8000, 0x3F82), // 1 + 2^-7 + 2^-8: tie, odd mantissa rounds up
        (0x3F80_8001, 0x3F81), // just above the tie
        (0x3F80_7FFF, 0x3F80), // just below the tie
        (0xBF80_8000, 0xBF80), // negative ties
        (0xBF81_8000, 0xBF82),
        (0x0000_8000, 0x0000), // subnormal tie to even
        (0x0001_8000, 0x0002),
        (0x8000_0000, 0x8000), // -0
        (0x7F7F_FFFF, 0x7F80), // max float rounds to +inf
        (0xFF7F_FFFF, 0xFF80),
        (0x7F80_0000, 0x7F80), // ±inf
        (0xFF80_0000, 0xFF80),
        (0x7FC0_0000, 0x7FC0), // quiet NaN
        (0x7F80_0001, 0x7FC0), // signalling NaN whose payload is all in the dropped half: must not become inf
        (0xFF80_0001, 0xFFC0),
        (0x7FFF_FFFF, 0x7FFF), // NaN with all-ones payload: no carry into the sign
    ];

    [Theory]
    [MemberData(nameof(VectorWidths))]
    public void FromSingle_RoundsToNearestEven(int vectorBits)
    {
        // 5 copies so that the cases land in vector lanes and in the scalar tail.
        int n = RoundingCases.Length * 5;
        var f = new float[n];
        var h = new ushort[n];
        for (int i = 0; i < n; i++) f[i] = BitConverter.UInt32BitsToSingle(RoundingCases[i % RoundingCases.Length].F);
        fixed (float* pf = f)
        fixed (ushort* ph = h)
            Bf16.FromSingleCore(pf, ph, n, vectorBits);
        for (int i = 0; i < n; i++)
        {
            var (bits, expected) = RoundingCases[i % RoundingCases.Length];
            Assert.True(expected == h[i], $"0x{bits:X8} → 0x{h[i]:X4}, expected 0x{expected:X4} (index {i})");
            Assert.Equal(expected, Bf16.FromSingle(f[i]));
        }
    }

    [Theory]
    [MemberData(nameof(VectorWidths))]
    public void RandomBits_VectorPathsMatchScalar(int vectorBits)
    {
        var rng = new Random(7 + vectorBits);
        const int n = 4096 + 13;
        var f = new float[n];
        var h = new ushort[n];
        var f2 = new float[n];
        for (int i = 0; i < n; i++) f[i] = BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32));
        fixed (float* pf = f)
        fixed (ushort* ph = h)
        fixed (float* pf2 = f2)
        {
            Bf16.FromSingleCore(pf, ph, n, vectorBits);
            Bf16.ToSingleCore(ph, pf2, n, vectorBits);
        }
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(Bf16.FromSingle(f[i]), h[i]);
            Assert.Equal(BitConverter.SingleToInt32Bits(Bf16.ToSingle(h[i])), BitConverter.SingleToInt32Bits(f2[i]));
        }
    }

    [Fact]
    public void LargeSpan_ParallelPathMatchesScalar()
    {
        var rng = new Random(42);
        int n = 2 * Bf16.ParallelThreshold + 12345; // several chunks plus a ragged last one
        var f = new float[n];
        for (int i = 0; i < n; i++) f[i] = BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32));
        var h = new ushort[n];
        var back = new float[n];
        Bf16.FromSingle(f, h);
        Bf16.ToSingle(h, back);
        for (int i = 0; i < n; i++)
        {
            ushort expected = Bf16.FromSingle(f[i]);
            if (h[i] != expected) Assert.Fail($"FromSingle[{i}]: 0x{h[i]:X4} != 0x{expected:X4}");
            if (BitConverter.SingleToInt32Bits(back[i]) != expected << 16) Assert.Fail($"ToSingle[{i}] mismatch");
        }
    }

    [Fact]
    public void ShortDestination_Throws()
    {
        Assert.Throws<ArgumentException>(() => Bf16.ToSingle(new ushort[5], new float[4]));
        Assert.Throws<ArgumentException>(() => Bf16.FromSingle(new float[5], new ushort[4]));
        Bf16.ToSingle(new ushort[4], new float[5]); // longer destination is fine
    }

    [Fact]
    public void F16_AllPatternsMatchHalf()
    {
        ushort[] h = AllPatterns();
        var f = new float[h.Length];
        var back = new ushort[h.Length];
        F16.ToSingle(h, f);
        F16.FromSingle(f, back);
        for (int i = 0; i < h.Length; i++)
        {
            Half half = BitConverter.UInt16BitsToHalf(h[i]);
            float expected = (float)half;
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(f[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(F16.ToSingle(h[i])));
            if (Half.IsNaN(half)) Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(back[i])));
            else Assert.Equal(h[i], back[i]);
        }
        Assert.Equal((ushort)0x3C00, F16.FromSingle(1f));
        Assert.Equal((ushort)0x3C00, F16.FromSingle(1f + 1f / 2048)); // tie to even
        Assert.Equal((ushort)0x7C00, F16.FromSingle(70000f));         // overflow → +inf
    }
}
