namespace SaeCluster.Compute;

/// <summary>
/// A <c>.npy</c> file, or a <c>.npy</c> member of an <c>.npz</c> archive, is malformed. The message starts with the file
/// and, for an archive member, <c>member 'name.npy'</c>, then says what is wrong.
/// </summary>
public sealed class NpyFormatException : TensorFormatException
{
    public NpyFormatException(string filePath, string? member, string problem, Exception? innerException = null)
        : base(filePath, member is null ? $"{filePath}: {problem}" : $"{filePath}: member '{member}': {problem}", problem, innerException)
    {
        Member = member;
    }

    /// <summary>The archive member that failed to parse; null for a plain <c>.npy</c> file (or the archive itself).</summary>
    public string? Member { get; }
}
