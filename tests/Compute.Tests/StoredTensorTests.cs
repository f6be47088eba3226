using System.Runtime.InteropServices;

namespace SaeCluster.Compute.Tests;

public sealed class StoredTensorTests
{
    private static readonly float[] Samples = [0f, 1f, -2.5f, 3.140625f, 65504f, 1e-3f, -0f, float.PositiveInfinity];

    [Theory]
    [InlineData(SafetensorsDtype.F32)]
    [InlineData(SafetensorsDtype.F16)]
    [InlineData(SafetensorsDtype.BF16)]
    [InlineData(SafetensorsDtype.F64)]
    public void FromFloat32_ThenToFloat32_MatchesTheScalarConversions(SafetensorsDtype dtype)
    {
        var tensor = StoredTensor.FromFloat32(Samples, [2, 4], dtype);
        Assert.Equal(dtype, tensor.Dtype);
        Assert.Equal([2L, 4L], tensor.Shape);
        Assert.Equal(8, tensor.ElementCount);
        Assert.Equal(8 * dtype.ElementSize(), tensor.Data.Length);
        float[] expected = dtype switch
        {
            SafetensorsDtype.F16 => [.. Samples.Select(f => F16.ToSingle(F16.FromSingle(f)))],
            SafetensorsDtype.BF16 => [.. Samples.Select(f => Bf16.ToSingle(Bf16.FromSingle(f)))],
            _ => Samples,
        };
        Assert.Equal(expected, tensor.ToFloat32());
    }

    [Fact]
    public void F64_RoundsToNearestFloat32()
    {
        double[] values = [1.0 + 1e-10, Math.PI, -1e300, 1e-50];
        var tensor = new StoredTensor(SafetensorsDtype.F64, [4], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        Assert.Equal(values.Select(v => (float)v), tensor.ToFloat32());
    }

    [Fact]
    public void ToInt64_WidensEveryIntegerDtype()
    {
        Assert.Equal([-1L, 2, long.MaxValue], Make<long>(SafetensorsDtype.I64, -1, 2, long.MaxValue).ToInt64());
        Assert.Equal([-1L, 2, int.MinValue], Make<int>(SafetensorsDtype.I32, -1, 2, int.MinValue).ToInt64());
        Assert.Equal([-1L, 2, short.MinValue], Make<short>(SafetensorsDtype.I16, -1, 2, short.MinValue).ToInt64());
        Assert.Equal([-1L, 2, -128], Make<sbyte>(SafetensorsDtype.I8, -1, 2, -128).ToInt64());
        Assert.Equal([255L, 2, 0], Make<byte>(SafetensorsDtype.U8, 255, 2, 0).ToInt64());
        Assert.Equal([65535L, 2, 0], Make<ushort>(SafetensorsDtype.U16, 65535, 2, 0).ToInt64());
        Assert.Equal([uint.MaxValue, 2L, 0], Make<uint>(SafetensorsDtype.U32, uint.MaxValue, 2, 0).ToInt64());
        Assert.Equal([long.MaxValue, 2L, 0], Make<ulong>(SafetensorsDtype.U64, long.MaxValue, 2, 0).ToInt64());
        Assert.Equal([1L, 0, 1], Make<byte>(SafetensorsDtype.BOOL, 1, 0, 7).ToInt64());
        Assert.Throws<OverflowException>(() => Make<ulong>(SafetensorsDtype.U64, ulong.MaxValue).ToInt64());
    }

    [Fact]
    public void Conversions_RefuseTheWrongKindOfDtype()
    {
        var ints = Make<int>(SafetensorsDtype.I32, 1, 2);
        Assert.Contains("ToFloat32", Assert.Throws<InvalidOperationException>(() => ints.ToFloat32()).Message);
        var floats = StoredTensor.FromFloat32([1f], [1]);
        Assert.Contains("ToInt64", Assert.Throws<InvalidOperationException>(() => floats.ToInt64()).Message);
        Assert.Contains("ScalarAsInt64", Assert.Throws<InvalidOperationException>(() => ints.ScalarAsInt64()).Message);
    }

    [Fact]
    public void Scalars_AreZeroDimAndReadBack()
    {
        var k = StoredTensor.Scalar(64);
        Assert.Equal(SafetensorsDtype.I32, k.Dtype);
        Assert.Empty(k.Shape);
        Assert.Equal(1, k.ElementCount);
        Assert.Equal(64, k.ScalarAsInt64());
        Assert.Equal(64.0, k.ScalarAsDouble());

        var threshold = StoredTensor.ScalarFloat(0.125f);
        Assert.Equal(SafetensorsDtype.F32, threshold.Dtype);
        Assert.Empty(threshold.Shape);
        Assert.Equal(0.125, threshold.ScalarAsDouble());

        Assert.Equal(-3.5, StoredTensor.FromFloat32([-3.5f], [1, 1], SafetensorsDtype.BF16).ScalarAsDouble());
        Assert.Equal(1e300, new StoredTensor(SafetensorsDtype.F64, [], BitConverter.GetBytes(1e300)).ScalarAsDouble());
    }

    [Fact]
    public void Constructor_ChecksTheDataLength()
    {
        var e = Assert.Throws<ArgumentException>(() => new StoredTensor(SafetensorsDtype.F32, [2, 3], new byte[20]));
        Assert.Contains("24", e.Message);
        Assert.Throws<ArgumentException>(() => new StoredTensor(SafetensorsDtype.F32, [-1], []));
        Assert.Throws<ArgumentException>(() => StoredTensor.FromFloat32([1f, 2f], [3]));
        Assert.Throws<ArgumentException>(() => StoredTensor.FromFloat32([1f], [1], SafetensorsDtype.I32));
        Assert.Empty(new StoredTensor(SafetensorsDtype.I64, [0, 5], []).ToInt64());
    }

    public static TheoryData<long[], long[], long> StridedViews() => new()
    {
        { [37, 53], [1, 37], 0 },             // column-major (w.T.clone())
        { [64, 256], [1, 64], 0 },
        { [37, 53], [1, 40], 3 },             // column-major with padding and an offset
        { [5, 7, 9], [63, 9, 1], 0 },         // contiguous
        { [5, 7, 9], [1, 5, 35], 0 },         // Fortran order
        { [5, 7, 9], [9, 45, 1], 2 },         // permuted
        { [4, 1, 6], [1, 99, 4], 1 },         // a size-1 dimension with an odd stride
        { [3, 4], [0, 1], 5 },                // broadcast rows
        { [6, 5], [-5, 1], 25 },              // negative stride (flipped rows)
        { [17], [3], 2 },                     // every third element
        { [], [], 7 },                        // 0-dim at an offset
        { [2, 3, 4, 5], [1, 2, 6, 24], 0 },   // 4-d Fortran
        { [0, 4], [4, 1], 0 },                // empty
    };

    [Theory]
    [MemberData(nameof(StridedViews))]
    public void FromStrided_MatchesANaiveGather_ForEveryElementSize(long[] shape, long[] strides, long offset)
    {
        foreach (SafetensorsDtype dtype in new[] { SafetensorsDtype.U8, SafetensorsDtype.BF16, SafetensorsDtype.F32, SafetensorsDtype.I64 })
        {
            int size = dtype.ElementSize();
            var storage = new byte[200 * 200 * size];
            new Random(shape.Length * 31 + size).NextBytes(storage);
            StoredTensor tensor = StoredTensor.FromStrided(dtype, shape, strides, offset, storage, "file.pt", "W");
            Assert.Equal(dtype, tensor.Dtype);
            Assert.Equal(shape, tensor.Shape);
            Assert.Equal(NaiveGather(storage, size, shape, strides, offset), tensor.Data);
        }
    }

    [Fact]
    public void FromStrided_LargeColumnMajor_IsTheTranspose()
    {
        const int rows = 1000, cols = 777;
        var columnMajor = new float[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) columnMajor[j * rows + i] = i * 10_000 + j;
        StoredTensor tensor = StoredTensor.FromStrided(SafetensorsDtype.F32, [rows, cols], [1, rows], 0,
            MemoryMarshal.AsBytes(columnMajor.AsSpan()), "file.pt", "W");
        float[] values = tensor.ToFloat32();
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                Assert.True(values[i * cols + j] == i * 10_000 + j, $"[{i}, {j}] is {values[i * cols + j]}");
    }

    [Theory]
    [InlineData(new long[] { 4, 5 }, new long[] { 5, 1 }, 1L, "reaches elements [1, 20]")]
    [InlineData(new long[] { 4, 5 }, new long[] { 1, 4 }, 0L, "reaches elements [0, 19]")]
    [InlineData(new long[] { 20 }, new long[] { -1 }, 5L, "reaches elements [-14, 5]")]
    [InlineData(new long[] { 4, 5 }, new long[] { 1 }, 0L, "2 dimensions but strides (1) have 1")]
    [InlineData(new long[] { 4 }, new long[] { 1 }, -1L, "storage offset -1 is negative")]
    [InlineData(new long[] { 4 }, new long[] { long.MaxValue }, 0L, "overflows")]
    public void FromStrided_OutOfStorage_ThrowsNamingTheFileAndTensor(long[] shape, long[] strides, long offset, string fragment)
    {
        var e = Assert.Throws<TensorFormatException>(() =>
            StoredTensor.FromStrided(SafetensorsDtype.F32, shape, strides, offset, new byte[19 * 4 + 2], "/data/ae.pt", "encoder.weight"));
        Assert.StartsWith("/data/ae.pt: encoder.weight: ", e.Message);
        Assert.Equal("/data/ae.pt", e.FilePath);
        Assert.Contains(fragment, e.Message);
    }

    private static byte[] NaiveGather(byte[] storage, int size, long[] shape, long[] strides, long offset)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var result = new byte[count * size];
        var index = new long[shape.Length];
        for (long n = 0; n < count; n++)
        {
            long element = offset;
            for (int d = 0; d < shape.Length; d++) element += index[d] * strides[d];
            Array.Copy(storage, element * size, result, n * size, size);
            for (int d = shape.Length - 1; d >= 0 && ++index[d] == shape[d]; d--) index[d] = 0;
        }
        return result;
    }

    private static StoredTensor Make<T>(SafetensorsDtype dtype, params T[] values) where T : unmanaged =>
        new(dtype, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
}
