namespace SaeCluster.Grains;

/// <summary>
/// An exclusive lock on a single-silo cluster's folder: its grain storage is one silo's, so a second process
/// on the same folder (another <c>saectl run</c>, a second silo) is refused with a clear message instead of
/// racing on the state files.
/// </summary>
public static class FolderLock
{
    public static FileStream Take(string folder)
    {
        Directory.CreateDirectory(folder);
        try { return new FileStream(Path.Combine(folder, "silo.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException) { throw new IOException($"{folder} is in use by another silo on this machine (one silo per cluster folder; use PostgreSQL for many)"); }
    }
}
