using System.IO.Compression;

namespace SaeCluster.Compute;

/// <summary>
/// Reads and writes numpy <c>.npz</c> archives: a ZIP with one <c>&lt;key&gt;.npy</c> member per array, STORED by
/// <c>np.savez</c> and DEFLATED by <c>np.savez_compressed</c> (both are read).
/// </summary>
public static class Npz
{
    private const string MemberSuffix = ".npy";

    /// <summary>
    /// The arrays in the archive at <paramref name="path"/>, in archive order, keyed by member name without <c>.npy</c>.
    /// Throws <see cref="NpyFormatException"/> naming the file and the member.
    /// </summary>
    public static OrderedDictionary<string, StoredTensor> Read(string path)
    {
        string fullPath = Path.GetFullPath(path);
        using (var zip = ZipFiles.OpenRead(fullPath, (problem, e) => new NpyFormatException(fullPath, null, problem + "; .npz files are ZIP archives of .npy members", e)))
        {
            var arrays = new OrderedDictionary<string, StoredTensor>(StringComparer.Ordinal);
            foreach (ZipArchiveEntry entry in zip.Entries)
            {
                if (entry.FullName.EndsWith('/') && entry.Length == 0) continue; // a folder record
                if (!entry.FullName.EndsWith(MemberSuffix, StringComparison.Ordinal))
                    throw new NpyFormatException(fullPath, entry.FullName, "is not a .npy member; an .npz archive holds only <key>.npy members");
                string key = entry.FullName[..^MemberSuffix.Length];
                StoredTensor tensor;
                try
                {
                    using Stream member = entry.Open();
                    tensor = Npy.Read(member, fullPath, entry.FullName);
                }
                catch (InvalidDataException e)
                {
                    throw new NpyFormatException(fullPath, entry.FullName, $"cannot be read from the archive: {e.Message}", e);
                }
                if (!arrays.TryAdd(key, tensor)) throw new NpyFormatException(fullPath, entry.FullName, "appears twice in the archive");
            }
            return arrays;
        }
    }

    /// <summary>
    /// Writes <paramref name="arrays"/> as members <c>&lt;key&gt;.npy</c>, DEFLATED when <paramref name="compressed"/>
    /// (like <c>np.savez_compressed</c>) and STORED otherwise (like <c>np.savez</c>), via a temp file renamed into place.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, StoredTensor>> arrays, bool compressed = false)
    {
        ArgumentNullException.ThrowIfNull(arrays);
        var members = arrays.ToList();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, tensor) in members)
        {
            if (string.IsNullOrEmpty(key)) throw new ArgumentException("an array key is empty", nameof(arrays));
            if (!keys.Add(key)) throw new ArgumentException($"array key '{key}' appears twice", nameof(arrays));
            ArgumentNullException.ThrowIfNull(tensor, $"{nameof(arrays)}['{key}']");
            NpyHeader.DescrOf(tensor.Dtype); // BF16 fails here, before any file is created
        }
        AtomicFile.Write(Path.GetFullPath(path), stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (key, tensor) in members)
            {
                ZipArchiveEntry entry = zip.CreateEntry(key + MemberSuffix, compressed ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using Stream member = entry.Open();
                Npy.Write(member, tensor);
            }
        });
    }
}
