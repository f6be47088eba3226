namespace SaeCluster.Compute;

/// <summary>
/// A torch <c>.pt</c> file is malformed or holds something <see cref="TorchFile"/> refuses to load
/// (a pickled global outside the allow-list, for instance); the message starts with the file path and says what is wrong.
/// </summary>
public sealed class TorchFormatException : TensorFormatException
{
    public TorchFormatException(string filePath, string problem, Exception? innerException = null)
        : base(filePath, problem, innerException)
    {
    }
}
