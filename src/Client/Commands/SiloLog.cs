namespace SaeCluster.Client.Commands;

/// <summary>The embedded silo's log: timestamped lines appended to a file (the terminal shows the live view).</summary>
public sealed class SiloLog(string path)
{
    readonly object _gate = new();
    public string Path { get; } = path;

    public void Write(string line)
    {
        lock (_gate)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            File.AppendAllText(Path, $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {line}\n");
        }
    }
}
