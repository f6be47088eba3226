namespace SaeCluster.Compute;

/// <summary>
/// A tensor container (a torch <c>.pt</c> file, a <c>.npy</c>/<c>.npz</c> file, or a strided view into one) is malformed;
/// the message starts with the file (and member, where there is one) and says what is wrong.
/// <see cref="TorchFormatException"/> and <see cref="NpyFormatException"/> derive from it, so one catch covers every container.
/// </summary>
public class TensorFormatException : FormatException
{
    public TensorFormatException(string filePath, string problem, Exception? innerException = null)
        : this(filePath, $"{filePath}: {problem}", problem, innerException)
    {
    }

    /// <summary>For derived types that spell the location part of the message themselves.</summary>
    protected TensorFormatException(string filePath, string message, string problem, Exception? innerException)
        : base(message, innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file that failed to parse.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the path.</summary>
    public string Problem { get; }
}
