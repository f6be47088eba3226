using System.Runtime.InteropServices;

namespace SaeCluster.Compute;

/// <summary>
/// A tensor as tensor containers hold it (torch <c>.pt</c> files, <c>.npy</c>/<c>.npz</c>): an element type, a shape and the
/// elements as contiguous row-major little-endian bytes. The tensor owns <see cref="Data"/>: the constructor keeps the array
/// it is given (no copy), so whoever hands it over must not change it afterwards.
/// </summary>
public sealed class StoredTensor
{
    /// <summary>
    /// Wraps <paramref name="data"/> (kept, not copied); its length must be product(<paramref name="shape"/>)·element size.
    /// An empty shape is a 0-dim tensor of one element.
    /// </summary>
    public StoredTensor(SafetensorsDtype dtype, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        int size = dtype.ElementSize();
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim < 0) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative dimension", nameof(shape));
            count = checked(count * dim);
        }
        if (count > data.LongLength / size || count * size != data.LongLength)
            throw new ArgumentException(
                $"{dtype} [{string.Join(", ", shape)}] needs {count} elements of {size} bytes ({(Int128)count * size} bytes), but the data is {data.LongLength} bytes", nameof(data));
        Dtype = dtype;
        Shape = [.. shape];
        Data = data;
        ElementCount = count;
    }

    /// <summary>Element type.</summary>
    public SafetensorsDtype Dtype { get; }

    /// <summary>Dimensions, outermost first; empty for a 0-dim tensor.</summary>
    public long[] Shape { get; }

    /// <summary>The elements in row-major order, little-endian.</summary>
    public byte[] Data { get; }

    /// <summary>Product of <see cref="Shape"/> (1 for a 0-dim tensor).</summary>
    public long ElementCount { get; }

    /// <summary>A copy of the data of a BF16, F16, F32 or F64 tensor as float32 (F64 rounded to nearest even).</summary>
    public float[] ToFloat32()
    {
        var result = new float[ElementCount];
        if (!FloatConversion.TryToSingle(Dtype, Data, result))
            throw new InvalidOperationException($"{this} is not a floating-point tensor; ToFloat32 reads F32, F16, BF16 and F64");
        return result;
    }

    /// <summary>A copy of the data of an integer or BOOL tensor as int64 (BOOL as 0/1; a U64 value over long.MaxValue throws).</summary>
    public long[] ToInt64()
    {
        var result = new long[ElementCount];
        switch (Dtype)
        {
            case SafetensorsDtype.I64: MemoryMarshal.Cast<byte, long>(Data).CopyTo(result); break;
            case SafetensorsDtype.I32: Widen(MemoryMarshal.Cast<byte, int>(Data), result); break;
            case SafetensorsDtype.I16: Widen(MemoryMarshal.Cast<byte, short>(Data), result); break;
            case SafetensorsDtype.I8: Widen(MemoryMarshal.Cast<byte, sbyte>(Data), result); break;
            case SafetensorsDtype.U32: Widen(MemoryMarshal.Cast<byte, uint>(Data), result); break;
            case SafetensorsDtype.U16: Widen(MemoryMarshal.Cast<byte, ushort>(Data), result); break;
            case SafetensorsDtype.U8: Widen<byte>(Data, result); break;
            case SafetensorsDtype.BOOL:
                for (int i = 0; i < result.Length; i++) result[i] = Data[i] != 0 ? 1 : 0;
                break;
            case SafetensorsDtype.U64:
                ReadOnlySpan<ulong> unsigned = MemoryMarshal.Cast<byte, ulong>(Data);
                for (int i = 0; i < result.Length; i++)
                    result[i] = unsigned[i] <= long.MaxValue
                        ? (long)unsigned[i]
                        : throw new OverflowException($"{this}: element {i} is {unsigned[i]}, over long.MaxValue");
                break;
            default:
                throw new InvalidOperationException($"{this} is not an integer tensor; ToInt64 reads I64, I32, I16, I8, U64, U32, U16, U8 and BOOL");
        }
        return result;
    }

    /// <summary>The single element of a 0-dim or one-element tensor of any dtype, as a double.</summary>
    public double ScalarAsDouble()
    {
        RequireScalar(nameof(ScalarAsDouble));
        return Dtype switch
        {
            SafetensorsDtype.F64 => BitConverter.ToDouble(Data),
            SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => ToFloat32()[0],
            _ => ToInt64()[0],
        };
    }

    /// <summary>The single element of a 0-dim or one-element integer or BOOL tensor.</summary>
    public long ScalarAsInt64()
    {
        RequireScalar(nameof(ScalarAsInt64));
        return ToInt64()[0];
    }

    /// <summary>
    /// A tensor of <paramref name="shape"/> holding <paramref name="data"/> stored as F32, F16, BF16 (both rounded to nearest
    /// even) or F64.
    /// </summary>
    public static StoredTensor FromFloat32(ReadOnlySpan<float> data, long[] shape, SafetensorsDtype storeAs = SafetensorsDtype.F32)
    {
        if (storeAs is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 or SafetensorsDtype.F64))
            throw new ArgumentException($"float data can be stored as F32, F16, BF16 or F64, not {storeAs}", nameof(storeAs));
        var bytes = new byte[(long)data.Length * storeAs.ElementSize()];
        switch (storeAs)
        {
            case SafetensorsDtype.F32: data.CopyTo(MemoryMarshal.Cast<byte, float>(bytes.AsSpan())); break;
            case SafetensorsDtype.F16: F16.FromSingle(data, MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan())); break;
            case SafetensorsDtype.BF16: Bf16.FromSingle(data, MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan())); break;
            default:
                Span<double> doubles = MemoryMarshal.Cast<byte, double>(bytes.AsSpan());
                for (int i = 0; i < data.Length; i++) doubles[i] = data[i];
                break;
        }
        return new StoredTensor(storeAs, shape, bytes);
    }

    /// <summary>A 0-dim I32 tensor (what torch makes of <c>torch.tensor(k, dtype=torch.int32)</c>).</summary>
    public static StoredTensor Scalar(int value) => new(SafetensorsDtype.I32, [], BitConverter.GetBytes(value));

    /// <summary>A 0-dim F32 tensor.</summary>
    public static StoredTensor ScalarFloat(float value) => new(SafetensorsDtype.F32, [], BitConverter.GetBytes(value));

    /// <summary>
    /// Gathers the strided view element[i0, i1, …] = storage[<paramref name="storageOffset"/> + Σ i_d·strides[d]]
    /// (offset and strides counted in elements of <paramref name="dtype"/>) of the little-endian <paramref name="storage"/>
    /// into a contiguous row-major tensor. Throws <see cref="TensorFormatException"/>, naming
    /// <paramref name="fileForErrors"/> and <paramref name="nameForErrors"/>, when any index falls outside the storage.
    /// </summary>
    public static StoredTensor FromStrided(SafetensorsDtype dtype, long[] shape, long[] strides, long storageOffset,
        ReadOnlySpan<byte> storage, string fileForErrors, string nameForErrors) =>
        TryFromStrided(dtype, shape, strides, storageOffset, storage, out string? problem)
            ?? throw new TensorFormatException(fileForErrors, $"{nameForErrors}: {problem}");

    /// <summary><see cref="FromStrided"/> that reports a bad view as <paramref name="problem"/> instead of throwing.</summary>
    internal static StoredTensor? TryFromStrided(SafetensorsDtype dtype, long[] shape, long[] strides, long storageOffset,
        ReadOnlySpan<byte> storage, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(strides);
        int size = dtype.ElementSize();
        problem = StridedGather.Check(shape, strides, storageOffset, storage.Length / size, out long count);
        if (problem is not null) return null;
        if (count > Array.MaxLength / size)
        {
            problem = $"{dtype} [{string.Join(", ", shape)}] has {count} elements, too many for one array";
            return null;
        }
        var data = new byte[count * size];
        StridedGather.Gather(size, shape, strides, storageOffset, storage, data);
        return new StoredTensor(dtype, shape, data);
    }

    /// <summary>Dtype and shape, e.g. <c>F32[64, 256]</c>.</summary>
    public override string ToString() => $"{Dtype}[{string.Join(", ", Shape)}]";

    private void RequireScalar(string member)
    {
        if (ElementCount != 1) throw new InvalidOperationException($"{this} has {ElementCount} elements; {member} needs exactly one");
    }

    private static void Widen<T>(ReadOnlySpan<T> src, Span<long> dst) where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        for (int i = 0; i < src.Length; i++) dst[i] = long.CreateTruncating(src[i]);
    }
}
