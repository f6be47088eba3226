using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SaeCluster.Compute;

/// <summary>
/// Collects tensors and writes them as one safetensors file, atomically (temp file, fsync, rename).
/// Memory: <c>Add</c> copies its span (a span cannot be kept), so the writer holds one copy of each tensor;
/// <see cref="AddBorrowed"/> keeps only a reference to the caller's memory, for tensors too big to copy.
/// Data is converted and streamed to disk in small chunks at <see cref="Write"/> time, never assembled in memory.
/// Layout matches the Python writer: tensors sorted by element size (descending) then name, header space-padded
/// to 8 bytes, so every tensor is aligned to its element size and the data region has no gaps.
/// </summary>
public sealed class SafetensorsWriter
{
    private const int ChunkElements = 1 << 16;

    private readonly List<(string Name, SafetensorsDtype Dtype, long[] Shape, long ByteLength, Action<Stream> WriteData)> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>String metadata written as the header's <c>__metadata__</c> (omitted when empty).</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Adds a copy of float data, stored as F32, F16 or BF16 (rounded to nearest even when written).</summary>
    public void Add(string name, ReadOnlySpan<float> data, long[] shape, SafetensorsDtype storeAs = SafetensorsDtype.F32) =>
        AddBorrowed(name, data.ToArray(), shape, storeAs);

    /// <summary>
    /// Like <see cref="Add(string, ReadOnlySpan{float}, long[], SafetensorsDtype)"/> without copying: the writer keeps
    /// <paramref name="data"/> and reads it during <see cref="Write"/>, so it must not change until then.
    /// </summary>
    public void AddBorrowed(string name, ReadOnlyMemory<float> data, long[] shape, SafetensorsDtype storeAs = SafetensorsDtype.F32)
    {
        if (storeAs is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
            throw new ArgumentException($"tensor '{name}': float data can be stored as F32, F16 or BF16, not {storeAs}", nameof(storeAs));
        AddEntry(name, storeAs, shape, data.Length, stream => WriteFloats(stream, data.Span, storeAs));
    }

    /// <summary>Adds a copy of int32 data, stored as I32.</summary>
    public void Add(string name, ReadOnlySpan<int> data, long[] shape)
    {
        int[] copy = data.ToArray();
        AddEntry(name, SafetensorsDtype.I32, shape, copy.Length, stream => WriteChunked<int>(stream, copy));
    }

    /// <summary>Adds a copy of raw little-endian bytes of any dtype; their length must be product(shape)·element size.</summary>
    public void AddRaw(string name, SafetensorsDtype dtype, long[] shape, ReadOnlySpan<byte> data)
    {
        int size = dtype.ElementSize();
        if (data.Length % size != 0)
            throw new ArgumentException($"tensor '{name}': {data.Length} bytes is not a whole number of {dtype} elements", nameof(data));
        byte[] copy = data.ToArray();
        AddEntry(name, dtype, shape, copy.Length / size, stream => WriteChunked<byte>(stream, copy));
    }

    /// <summary>
    /// Writes the file: to <c>.{name}.tmp-{guid}</c> in the target directory, flushed to disk, then renamed onto
    /// <paramref name="path"/>. With <paramref name="overwrite"/> false the rename fails (<see cref="IOException"/>)
    /// when the target exists, so concurrent writers cannot replace each other's file. The temp file never survives a failure.
    /// </summary>
    public void Write(string path, bool overwrite = true)
    {
        string fullPath = Path.GetFullPath(path);
        if (!overwrite && File.Exists(fullPath)) throw new IOException($"{fullPath}: file already exists");

        var ordered = _tensors.OrderByDescending(t => t.Dtype.ElementSize()).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        byte[] header = BuildHeader(ordered);
        AtomicFile.Write(fullPath, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var tensor in ordered) tensor.WriteData(stream);
        }, overwrite, preallocate: 8 + header.Length + ordered.Sum(t => t.ByteLength));
    }

    private void AddEntry(string name, SafetensorsDtype dtype, long[] shape, long elementCount, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == SafetensorsHeader.MetadataKey)
            throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor", nameof(name));
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim < 0) throw new ArgumentException($"tensor '{name}': negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            count = checked(count * dim);
        }
        if (count != elementCount)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] has {count} elements but the data has {elementCount}", nameof(shape));
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        _tensors.Add((name, dtype, [.. shape], elementCount * dtype.ElementSize(), writeData));
    }

    private byte[] BuildHeader(List<(string Name, SafetensorsDtype Dtype, long[] Shape, long ByteLength, Action<Stream> WriteData)> ordered)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (Metadata.Count > 0)
            {
                writer.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var tensor in ordered)
            {
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", tensor.Dtype.HeaderName());
                writer.WriteStartArray("shape");
                foreach (long dim in tensor.Shape) writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                offset += tensor.ByteLength;
                writer.WriteNumberValue(offset);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        var header = new byte[(json.WrittenCount + 7) & ~7];
        json.WrittenSpan.CopyTo(header);
        header.AsSpan(json.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteFloats(Stream stream, ReadOnlySpan<float> data, SafetensorsDtype storeAs)
    {
        if (storeAs == SafetensorsDtype.F32)
        {
            WriteChunked(stream, data);
            return;
        }
        Span<ushort> scratch = new ushort[Math.Min(data.Length, ChunkElements)];
        while (!data.IsEmpty)
        {
            ReadOnlySpan<float> chunk = data[..Math.Min(data.Length, ChunkElements)];
            Span<ushort> converted = scratch[..chunk.Length];
            if (storeAs == SafetensorsDtype.BF16) Bf16.FromSingle(chunk, converted);
            else F16.FromSingle(chunk, converted);
            stream.Write(MemoryMarshal.AsBytes(converted));
            data = data[chunk.Length..];
        }
    }

    /// <summary>Writes <paramref name="data"/> in chunks, so arrays over 2 GB never form one oversized byte span.</summary>
    private static void WriteChunked<T>(Stream stream, ReadOnlySpan<T> data) where T : unmanaged
    {
        while (!data.IsEmpty)
        {
            ReadOnlySpan<T> chunk = data[..Math.Min(data.Length, ChunkElements)];
            stream.Write(MemoryMarshal.AsBytes(chunk));
            data = data[chunk.Length..];
        }
    }
}
