using System.Collections;
using System.IO.Compression;
using System.Numerics;

namespace SaeCluster.Compute;

/// <summary>
/// Reads and writes <c>torch.save</c> files (the ZIP layout of PyTorch ≥ 1.6: <c>&lt;stem&gt;/data.pkl</c>,
/// <c>&lt;stem&gt;/data/&lt;key&gt;</c> storages, <c>&lt;stem&gt;/version</c>), with Razorvine.Pickle for the pickle.
/// <para>
/// Values map as: dict and OrderedDict (string keys) ↔ <see cref="OrderedDictionary{TKey, TValue}"/> of string to object?,
/// list ↔ <see cref="List{T}"/> of object?, tuple ↔ object?[], str ↔ string, int ↔ long, float ↔ double, bool, None ↔ null,
/// tensor and nn.Parameter ↔ <see cref="StoredTensor"/> (strides honoured, data contiguous).
/// </para>
/// <para>
/// Loading is safe on untrusted files: the pickle is vetted by <see cref="TorchPickleGuard"/> before anything runs, and only
/// torch's tensor/parameter rebuild functions, its storage classes and <c>collections.OrderedDict</c> are accepted.
/// </para>
/// </summary>
public static class TorchFile
{
    /// <summary>Deepest container nesting <see cref="Read"/> converts.</summary>
    public const int MaxDepth = 256;

    private const string PickleEntry = "data.pkl";

    /// <summary>Fixed entry timestamp, so equal content gives equal files.</summary>
    private static readonly DateTimeOffset EntryTime = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// Loads the object <c>torch.save</c> wrote to <paramref name="path"/>. Throws <see cref="TorchFormatException"/> naming
    /// the file for anything malformed or refused.
    /// </summary>
    public static object? Read(string path)
    {
        string fullPath = Path.GetFullPath(path);
        using (var zip = ZipFiles.OpenRead(fullPath, (problem, e) => new TorchFormatException(fullPath, problem + "; torch.save has written ZIP archives since PyTorch 1.6", e)))
        {
            var (stem, pickleEntry) = FindPickle(fullPath, zip);
            byte[] pickle = ReadEntry(fullPath, pickleEntry);
            byte[] vetted = TorchPickleGuard.CheckAndRewrite(pickle, fullPath);
            using var unpickler = new TorchUnpickler(fullPath, zip, stem);
            object? raw;
            try
            {
                raw = unpickler.loads(vetted);
            }
            catch (Exception e) when (e is not (TorchFormatException or OutOfMemoryException))
            {
                throw Unwrap(fullPath, e);
            }
            return Convert(fullPath, raw, "root", 0, new Dictionary<object, object>(ReferenceEqualityComparer.Instance));
        }
    }

    /// <summary>
    /// Writes <paramref name="root"/> to <paramref name="path"/> in the layout torch 1.13 writes (every entry STORED, pickle
    /// protocol 2, archive folder = file name without extension), via a temp file renamed into place. Accepts
    /// <see cref="IDictionary{TKey, TValue}"/> of string to object? (a plain dict, in enumeration order), lists, tuples (object?[]),
    /// string, int, long, float, double, bool, null and <see cref="StoredTensor"/> (any dtype but U16/U32/U64); anything else
    /// throws <see cref="ArgumentException"/>. Tensor data is streamed from <see cref="StoredTensor.Data"/> without copies.
    /// </summary>
    public static void Write(string path, object? root)
    {
        string fullPath = Path.GetFullPath(path);
        string stem = Path.GetFileNameWithoutExtension(fullPath);
        if (stem.Length == 0) stem = "archive";
        object? normalized = TorchPickler.Normalize(root);
        using var pickler = new TorchPickler();
        byte[] pickle = pickler.dumps(normalized);
        AtomicFile.Write(fullPath, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            WriteEntry(zip, $"{stem}/{PickleEntry}", pickle);
            for (int key = 0; key < pickler.Storages.Count; key++) WriteEntry(zip, $"{stem}/data/{key}", pickler.Storages[key].Data);
            WriteEntry(zip, $"{stem}/version", "3\n"u8);
        });
    }

    private static (string Stem, ZipArchiveEntry Entry) FindPickle(string path, ZipArchive zip)
    {
        var found = zip.Entries
            .Where(e => e.FullName.EndsWith("/" + PickleEntry, StringComparison.Ordinal) && e.FullName.IndexOf('/') == e.FullName.Length - PickleEntry.Length - 1)
            .ToList();
        return found switch
        {
            [var single] => (single.FullName[..^(PickleEntry.Length + 1)], single),
            [] => throw new TorchFormatException(path,
                $"the ZIP archive has no '<folder>/{PickleEntry}' entry, so it is not a torch.save file " +
                $"(entries: {string.Join(", ", zip.Entries.Take(8).Select(e => $"'{e.FullName}'"))}{(zip.Entries.Count > 8 ? ", ..." : "")})"),
            _ => throw new TorchFormatException(path,
                $"the ZIP archive has {found.Count} '<folder>/{PickleEntry}' entries ({string.Join(", ", found.Select(e => $"'{e.FullName}'"))}); a torch.save file has one"),
        };
    }

    /// <summary>The first <paramref name="length"/> bytes of <paramref name="entry"/> (all of it by default), failing with the file and entry named.</summary>
    internal static byte[] ReadEntry(string path, ZipArchiveEntry entry, long length = -1)
    {
        if (length < 0) length = entry.Length;
        if (length > Array.MaxLength)
            throw new TorchFormatException(path, $"entry '{entry.FullName}' is {length} bytes, too large to load");
        var bytes = new byte[length];
        try
        {
            using Stream stream = entry.Open();
            stream.ReadExactly(bytes);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new TorchFormatException(path, $"entry '{entry.FullName}' cannot be read: {e.Message}", e);
        }
        return bytes;
    }

    private static void WriteEntry(ZipArchive zip, string name, ReadOnlySpan<byte> data)
    {
        ZipArchiveEntry entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        entry.LastWriteTime = EntryTime;
        using Stream stream = entry.Open();
        stream.Write(data);
    }

    /// <summary>The most useful message in an exception that escaped Razorvine (ours are often wrapped by its BUILD handling).</summary>
    private static TorchFormatException Unwrap(string path, Exception thrown)
    {
        for (Exception? e = thrown; e is not null; e = e.InnerException)
        {
            if (e is TorchFormatException format) return format;
            if (e is TorchPickleContentException content) return new TorchFormatException(path, $"data.pkl: {content.Message}", thrown);
        }
        return new TorchFormatException(path, $"data.pkl is not a valid pickle: {thrown.Message}", thrown);
    }

    /// <summary>Razorvine's value graph → the public one. Shared containers stay shared (and so cycles through lists and dicts close).</summary>
    private static object? Convert(string path, object? value, string where, int depth, Dictionary<object, object> done)
    {
        switch (value)
        {
            case null or string or bool or double or StoredTensor: return value;
            case int or long or BigInteger: return ToInt64(path, value, where);
        }
        if (done.TryGetValue(value, out object? converted)) return converted;
        if (depth >= MaxDepth) throw new TorchFormatException(path, $"data.pkl: {where}: containers are nested more than {MaxDepth} deep");
        switch (value)
        {
            case object[] tuple:
                var items = new object?[tuple.Length];
                for (int i = 0; i < tuple.Length; i++) items[i] = Convert(path, tuple[i], $"{where}[{i}]", depth + 1, done);
                done[tuple] = items;
                return items;
            case ArrayList list:
                var newList = new List<object?>(list.Count);
                done[list] = newList;
                for (int i = 0; i < list.Count; i++) newList.Add(Convert(path, list[i], $"{where}[{i}]", depth + 1, done));
                return newList;
            case PickledDict dict:
                var newDict = new OrderedDictionary<string, object?>(dict.Items.Count);
                done[dict] = newDict;
                foreach (var (key, item) in dict.Items) newDict.Add(key, Convert(path, item, $"{where}['{key}']", depth + 1, done));
                return newDict;
            default:
                throw new TorchFormatException(path,
                    $"data.pkl: {where} is {TorchPickleContentException.PythonTypeOf(value)}, which has no value here " +
                    "(supported: dict, list, tuple, str, int, float, bool, None, tensor)");
        }
    }

    private static long ToInt64(string path, object value, string where)
    {
        try
        {
            return TorchPickleConstructors.ToInt64(value, where);
        }
        catch (TorchPickleContentException e)
        {
            throw new TorchFormatException(path, $"data.pkl: {e.Message}", e);
        }
    }
}
