namespace SaeCluster.Sae;

/// <summary>
/// A folder that appears complete or not at all: filled under a hidden temporary name beside it
/// (<c>.{name}.tmp-{guid}</c>), then renamed over whatever was there. A failure removes the temporary folder.
/// </summary>
public static class StagedFolder
{
    /// <summary>Runs <paramref name="fill"/> on the temporary folder, then puts it in place of <paramref name="folder"/>; returns what fill returned.</summary>
    public static T Write<T>(string folder, Func<string, T> fill)
    {
        folder = Path.GetFullPath(folder);
        string parent = Path.GetDirectoryName(folder)!;
        Directory.CreateDirectory(parent);
        string tmp = Path.Combine(parent, $".{Path.GetFileName(folder)}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            var result = fill(tmp);
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
            Directory.Move(tmp, folder);
            return result;
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            throw;
        }
    }
}
