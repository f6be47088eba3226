using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace SaeCluster.Compute;

/// <summary>
/// Reads and writes numpy <c>.npy</c> files: the magic <c>\x93NUMPY</c>, a version (1.0, 2.0 or 3.0 read; 1.0 written
/// unless the header needs 2.0), the header length, the header dict (descr, fortran_order, shape), then the raw elements.
/// Reads the bool, int8–64, uint8–64 and float16/32/64 descrs in either byte order (big-endian is swapped on load) and
/// honours <c>fortran_order</c>; writes little-endian C order.
/// </summary>
public static class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads the array in the file at <paramref name="path"/>; throws <see cref="NpyFormatException"/> naming the file.</summary>
    public static StoredTensor Read(string path)
    {
        string fullPath = Path.GetFullPath(path);
        using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Read(stream, fullPath, null);
    }

    /// <summary>Reads one array from <paramref name="stream"/>; errors name <paramref name="nameForErrors"/>.</summary>
    public static StoredTensor Read(Stream stream, string nameForErrors) => Read(stream, nameForErrors, null);

    /// <summary>Writes <paramref name="tensor"/> to <paramref name="path"/> via a temp file renamed into place.</summary>
    public static void Write(string path, StoredTensor tensor)
    {
        byte[] header = Header(tensor); // fails (BF16) before any file is created
        AtomicFile.Write(Path.GetFullPath(path), stream =>
        {
            stream.Write(header);
            stream.Write(tensor.Data);
        });
    }

    /// <summary>Writes <paramref name="tensor"/> as <c>.npy</c> bytes to <paramref name="stream"/>; BF16 throws (numpy has no bfloat16).</summary>
    public static void Write(Stream stream, StoredTensor tensor)
    {
        stream.Write(Header(tensor));
        stream.Write(tensor.Data);
    }

    /// <summary>Reads one array; errors name <paramref name="file"/> and, inside an archive, <paramref name="member"/>.</summary>
    internal static StoredTensor Read(Stream stream, string file, string? member)
    {
        Span<byte> preamble = stackalloc byte[12];
        int got = stream.ReadAtLeast(preamble[..10], 10, throwOnEndOfStream: false);
        int compared = Math.Min(got, Magic.Length);
        if (!preamble[..compared].SequenceEqual(Magic[..compared]))
            throw Fail(file, member, $"not a .npy file: starts with bytes {Convert.ToHexString(preamble[..compared])}, expected the magic 934E554D5059 (\\x93NUMPY)");
        if (got < 8) throw Fail(file, member, $"truncated: {got} bytes, shorter than the 10-byte .npy preamble");
        byte major = preamble[6], minor = preamble[7];
        if (minor != 0 || major is not (1 or 2 or 3)) throw Fail(file, member, $"unsupported .npy version {major}.{minor} (1.0, 2.0 and 3.0 are)");
        int lengthBytes = major == 1 ? 2 : 4;
        int preambleLength = 8 + lengthBytes;
        if (got < preambleLength) got += stream.ReadAtLeast(preamble[got..preambleLength], preambleLength - got, throwOnEndOfStream: false);
        if (got < preambleLength) throw Fail(file, member, $"truncated: {got} bytes, shorter than the version {major}.0 preamble");
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(preamble[8..]) : BinaryPrimitives.ReadUInt32LittleEndian(preamble[8..]);
        if (headerLength > 1 << 24) throw Fail(file, member, $"header length {headerLength} is implausibly large");

        var headerBytes = new byte[headerLength];
        int headerGot = stream.ReadAtLeast(headerBytes, headerBytes.Length, throwOnEndOfStream: false);
        if (headerGot < headerBytes.Length)
            throw Fail(file, member, $"truncated header: the length field says {headerLength} bytes, {headerGot} follow");
        string headerText = major == 3 ? Encoding.UTF8.GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        NpyHeader.Fields fields = NpyHeader.Parse(headerText, out string? problem) ?? throw Fail(file, member, problem!);

        int size = fields.Dtype.ElementSize();
        long count = 1;
        foreach (long dim in fields.Shape)
        {
            if (dim != 0 && count > Array.MaxLength / size / dim)
                throw Fail(file, member, $"shape ({string.Join(", ", fields.Shape)}) of {fields.Dtype} is too large for one array");
            count *= dim;
        }
        var data = new byte[count * size];
        int dataGot = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (dataGot < data.Length)
            throw Fail(file, member,
                $"truncated data: shape ({string.Join(", ", fields.Shape)}) of {fields.Dtype} needs {data.Length} bytes after the header, {dataGot} follow");
        if (fields.BigEndian) SwapBytes(data, size);
        if (!fields.FortranOrder || fields.Shape.Length < 2) return new StoredTensor(fields.Dtype, fields.Shape, data);

        // Column-major: element [i0, i1, …] is at Σ i_d·Π_{e<d} shape[e], i.e. strides that grow from the first dimension.
        var strides = new long[fields.Shape.Length];
        long step = 1;
        for (int d = 0; d < strides.Length; d++)
        {
            strides[d] = step;
            step *= fields.Shape[d];
        }
        return StoredTensor.TryFromStrided(fields.Dtype, fields.Shape, strides, 0, data, out problem) ?? throw Fail(file, member, problem!);
    }

    private static byte[] Header(StoredTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        byte[] dict = NpyHeader.Format(tensor.Dtype, tensor.Shape, 10);
        if (dict.Length <= ushort.MaxValue) return [.. Magic, 1, 0, .. BitConverter.GetBytes((ushort)dict.Length), .. dict];
        dict = NpyHeader.Format(tensor.Dtype, tensor.Shape, 12); // version 2.0: a 4-byte length, for headers over 64 KiB
        return [.. Magic, 2, 0, .. BitConverter.GetBytes((uint)dict.Length), .. dict];
    }

    private static void SwapBytes(byte[] data, int size)
    {
        switch (size)
        {
            case 2: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(data.AsSpan()), MemoryMarshal.Cast<byte, ushort>(data.AsSpan())); break;
            case 4: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, uint>(data.AsSpan()), MemoryMarshal.Cast<byte, uint>(data.AsSpan())); break;
            case 8: BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ulong>(data.AsSpan()), MemoryMarshal.Cast<byte, ulong>(data.AsSpan())); break;
        }
    }

    private static NpyFormatException Fail(string file, string? member, string problem) => new(file, member, problem);
}
