namespace SaeCluster.Compute;

/// <summary>
/// A safetensors file is malformed; the message starts with the file path and says what is wrong.
/// Derives from <see cref="FormatException"/>: <see cref="InvalidDataException"/> is sealed, and an
/// <see cref="IOException"/> base would invite retry loops on a file that will never parse.
/// </summary>
public sealed class SafetensorsFormatException : FormatException
{
    public SafetensorsFormatException(string filePath, string problem, Exception? innerException = null)
        : base($"{filePath}: {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>What is wrong, without the path (for errors that wrap this one and name the file themselves).</summary>
    public string Problem { get; }

    /// <summary>The file that failed to parse.</summary>
    public string FilePath { get; }
}
