namespace SaeCluster.Grains;

/// <summary>
/// The blob names every store accepts, so that a name valid in one store is valid in all: 1 to 1024
/// characters, '/'-separated segments that are neither empty, "." nor "..", no backslash, no control
/// characters, and no segment that looks like one of <see cref="LocalBlobStore"/>'s temp files.
/// </summary>
internal static class BlobNames
{
    /// <summary>Prefix of the hidden temp files <see cref="LocalBlobStore"/> writes before renaming.</summary>
    public const string TempPrefix = ".blobtmp-";

    public const int MaxLength = 1024;

    /// <summary>Why <paramref name="name"/> is not a valid blob name, or null when it is.</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "the blob name is empty";
        if (name.Length > MaxLength) return $"the blob name is {name.Length} characters long (at most {MaxLength})";
        if (name.Contains('\\')) return "the blob name contains a backslash (use '/' between folders)";
        if (name[0] == '/') return "the blob name starts with '/' (names are relative to the store)";
        foreach (char c in name)
            if (char.IsControl(c)) return "the blob name contains a control character";
        foreach (string segment in name.Split('/'))
        {
            if (segment.Length == 0) return "the blob name has an empty segment ('//' or a trailing '/')";
            if (segment is "." or "..") return $"the blob name has a '{segment}' segment";
            if (segment.StartsWith(TempPrefix, StringComparison.Ordinal)) return $"the blob name has a segment starting with '{TempPrefix}' (reserved for temp files)";
        }
        return null;
    }

    /// <summary>Throws <see cref="BlobStoreException"/> naming the store when <paramref name="name"/> is invalid.</summary>
    public static void Validate(string store, string name)
    {
        if (Problem(name) is { } problem) throw new BlobStoreException(store, name ?? "", problem);
    }

    /// <summary>
    /// Checks a listing prefix: any string whose complete folder part (up to the last '/') is a valid name.
    /// </summary>
    public static void ValidatePrefix(string store, string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Contains('\\')) throw new BlobStoreException(store, prefix, "the prefix contains a backslash (use '/' between folders)");
        int slash = prefix.LastIndexOf('/');
        if (slash >= 0 && Problem(prefix[..slash]) is { } problem) throw new BlobStoreException(store, prefix, "bad prefix: " + problem);
    }
}
