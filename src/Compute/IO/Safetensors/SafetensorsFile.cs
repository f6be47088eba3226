using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace SaeCluster.Compute;

/// <summary>
/// A safetensors file, memory-mapped read-only with its header fully validated by <see cref="Open"/>.
/// All members are safe to call concurrently; spans and pointers it hands out are valid until <see cref="Dispose"/>,
/// which must not race with reads.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>Largest header accepted (real headers are kilobytes; larger means a corrupt length prefix).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _data;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private int _disposed;

    private SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* data,
        Dictionary<string, string> metadata, SafetensorsTensorInfo[] tensors)
    {
        Path = path;
        _map = map;
        _view = view;
        _data = data;
        Metadata = metadata.AsReadOnly();
        Tensors = tensors.AsReadOnly();
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensors in data order (ascending <see cref="SafetensorsTensorInfo.Begin"/>).</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>Maps <paramref name="path"/> and validates its header; throws <see cref="SafetensorsFormatException"/> when malformed.</summary>
    public static SafetensorsFile Open(string path)
    {
        string fullPath = System.IO.Path.GetFullPath(path);
        // The mapping keeps the file alive by itself; the stream is only needed to create it.
        using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 0);
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new SafetensorsFormatException(fullPath,
                $"file is {fileLength} bytes, shorter than the 8-byte header length prefix (empty or truncated file?)");

        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        MemoryMappedViewAccessor? view = null;
        byte* start = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            start += view.PointerOffset;

            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(start, 8));
            if (headerLength > MaxHeaderBytes)
                throw new SafetensorsFormatException(fullPath,
                    $"header length prefix is {headerLength} bytes, over the {MaxHeaderBytes}-byte limit (not a safetensors file?)");
            if ((long)headerLength > fileLength - 8)
                throw new SafetensorsFormatException(fullPath,
                    $"header length prefix is {headerLength} bytes but only {fileLength - 8} follow it (truncated file?)");

            long dataStart = 8 + (long)headerLength;
            var (metadata, tensors) = SafetensorsHeader.Parse(
                fullPath, new ReadOnlySpan<byte>(start + 8, (int)headerLength), dataStart, fileLength);
            return new SafetensorsFile(fullPath, map, view, start + dataStart, metadata, tensors);
        }
        catch
        {
            if (start != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>The tensor called <paramref name="name"/>; throws <see cref="KeyNotFoundException"/> naming the file when absent.</summary>
    public SafetensorsTensorInfo Get(string name)
    {
        if (_byName.TryGetValue(name, out SafetensorsTensorInfo? info)) return info;
        const int listed = 10;
        string names = string.Join(", ", Tensors.Take(listed).Select(t => $"'{t.Name}'")) + (Tensors.Count > listed ? ", ..." : "");
        throw new KeyNotFoundException($"{Path}: no tensor '{name}' (the file has {Tensors.Count}: {names})");
    }

    /// <summary>Looks up a tensor without throwing.</summary>
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SafetensorsTensorInfo? info) =>
        _byName.TryGetValue(name, out info);

    /// <summary>The raw little-endian bytes of a tensor of at most <see cref="int.MaxValue"/> bytes.</summary>
    public ReadOnlySpan<byte> Bytes(string name)
    {
        SafetensorsTensorInfo info = Get(name);
        if (info.ByteLength > int.MaxValue)
            throw new InvalidOperationException(
                $"{Path}: tensor '{name}' is {info.ByteLength} bytes, too large for a span; use Pointer or ReadRowsAsFloat");
        return new ReadOnlySpan<byte>(Pointer(name), (int)info.ByteLength);
    }

    /// <summary>Address of a tensor's first byte in the mapping (not necessarily aligned to its element size).</summary>
    public byte* Pointer(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _data + Get(name).Begin;
    }

    /// <summary>
    /// Converts rows [<paramref name="rowStart"/>, <paramref name="rowStart"/> + <paramref name="rowCount"/>) of the
    /// 2-D F32/F16/BF16/F64 tensor <paramref name="name"/> [rows, cols] to float32 in the first rowCount·cols elements of <paramref name="dst"/>.
    /// </summary>
    public void ReadRowsAsFloat(string name, long rowStart, int rowCount, Span<float> dst)
    {
        SafetensorsTensorInfo info = Get(name);
        if (info.Shape is not [long rows, long cols])
            throw new InvalidOperationException($"{Path}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}]; ReadRowsAsFloat needs [rows, cols]");
        ArgumentOutOfRangeException.ThrowIfNegative(rowStart);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        if (rowStart > rows - rowCount)
            throw new ArgumentOutOfRangeException(nameof(rowCount),
                $"{Path}: rows [{rowStart}, {rowStart + rowCount}) are outside tensor '{name}' with {rows} rows");
        long count = rowCount * cols;
        if (dst.Length < count)
            throw new ArgumentException($"destination holds {dst.Length} floats; {rowCount} rows of {cols} need {count}", nameof(dst));
        ConvertToFloat(info, rowStart * cols, dst[..(int)count]);
    }

    /// <summary>Converts a whole F32/F16/BF16/F64 tensor (any shape) to a new float32 array.</summary>
    public float[] ReadAllAsFloat(string name)
    {
        SafetensorsTensorInfo info = Get(name);
        var dst = new float[ArrayLength(info)];
        ConvertToFloat(info, 0, dst);
        return dst;
    }

    /// <summary>Copies an I32 tensor to a new array.</summary>
    public int[] ReadInt32(string name) => ReadArray<int>(name, SafetensorsDtype.I32);

    /// <summary>Copies an I64 tensor to a new array.</summary>
    public long[] ReadInt64(string name) => ReadArray<long>(name, SafetensorsDtype.I64);

    /// <summary>Unmaps the file. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private T[] ReadArray<T>(string name, SafetensorsDtype dtype) where T : unmanaged
    {
        SafetensorsTensorInfo info = Get(name);
        if (info.Dtype != dtype)
            throw new InvalidOperationException($"{Path}: tensor '{name}' is {info.Dtype}, not {dtype}");
        var dst = new T[ArrayLength(info)];
        new ReadOnlySpan<T>(Pointer(name), dst.Length).CopyTo(dst);
        return dst;
    }

    private int ArrayLength(SafetensorsTensorInfo info) => info.ElementCount <= Array.MaxLength
        ? (int)info.ElementCount
        : throw new InvalidOperationException($"{Path}: tensor '{info.Name}' has {info.ElementCount} elements, too many for one array");

    private void ConvertToFloat(SafetensorsTensorInfo info, long firstElement, Span<float> dst)
    {
        if (!FloatConversion.TryToSingle(info.Dtype, Pointer(info.Name) + firstElement * info.Dtype.ElementSize(), dst))
            throw new InvalidOperationException($"{Path}: tensor '{info.Name}' is {info.Dtype}; only F32, F16, BF16 and F64 convert to float");
    }
}
