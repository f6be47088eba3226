namespace SaeCluster.Testing;

/// <summary>
/// An exclusive lock file that serialises one-time installs (npm packages) across test processes: held
/// while the returned stream is open, waited for up to five minutes.
/// </summary>
public static class InstallLock
{
    public static FileStream Acquire(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
        }
    }
}
