using System.IO.Compression;
using Razorvine.Pickle;

namespace SaeCluster.Compute;

/// <summary>
/// Razorvine.Pickle's unpickler for one torch file: resolves the persistent ids <c>('storage', StorageClass, key, location, numel)</c>
/// to the ZIP entries <c>&lt;stem&gt;/data/&lt;key&gt;</c>, reading each storage once. Only ever fed pickles that passed
/// <see cref="TorchPickleGuard"/>.
/// </summary>
internal sealed class TorchUnpickler : Unpickler
{
    private readonly string _path;
    private readonly ZipArchive _zip;
    private readonly string _stem;
    private readonly Dictionary<string, TorchStorage> _storages = new(StringComparer.Ordinal);

    public TorchUnpickler(string path, ZipArchive zip, string stem)
    {
        TorchPickleConstructors.EnsureRegistered();
        _path = path;
        _zip = zip;
        _stem = stem;
    }

    protected override object persistentLoad(object pid)
    {
        if (pid is not object[] { Length: 5 } parts || parts[0] is not "storage")
            throw new TorchPickleContentException("a persistent id is not ('storage', storage class, key, location, numel)");
        if (parts[1] is not TorchPickleConstructors.StorageClass storageClass)
            throw new TorchPickleContentException($"a persistent id names {TorchPickleContentException.PythonTypeOf(parts[1])} where a torch storage class belongs");
        if (parts[2] is not string key)
            throw new TorchPickleContentException($"a persistent id's storage key is {TorchPickleContentException.PythonTypeOf(parts[2])}, not a string");
        long numel = TorchPickleConstructors.ToInt64(parts[4], $"storage '{key}' numel");
        if (numel < 0) throw new TorchPickleContentException($"storage '{key}' has a negative numel {numel}");

        if (_storages.TryGetValue(key, out TorchStorage? known))
        {
            if (known.Dtype != storageClass.Dtype || known.ElementCount != numel)
                throw new TorchFormatException(_path,
                    $"storage '{key}' is declared as {known.Dtype} × {known.ElementCount} and again as {storageClass.Dtype} × {numel}");
            return known;
        }
        var storage = new TorchStorage(_path, key, storageClass.Dtype, numel, ReadStorage(key, storageClass.Dtype, numel));
        _storages.Add(key, storage);
        return storage;
    }

    private byte[] ReadStorage(string key, SafetensorsDtype dtype, long numel)
    {
        string entryName = $"{_stem}/data/{key}";
        ZipArchiveEntry entry = _zip.GetEntry(entryName)
            ?? throw new TorchFormatException(_path, $"storage '{key}' is missing: the archive has no entry '{entryName}'");
        int size = dtype.ElementSize();
        if (numel > Array.MaxLength / size)
            throw new TorchFormatException(_path, $"storage '{key}' ({dtype} × {numel}) is over {Array.MaxLength} bytes, too large to load into one array");
        long needed = numel * size;
        if (entry.Length < needed)
            throw new TorchFormatException(_path,
                $"storage '{key}' is too small: entry '{entryName}' has {entry.Length} bytes but {dtype} × {numel} needs {needed}");
        return TorchFile.ReadEntry(_path, entry, needed);
    }
}
