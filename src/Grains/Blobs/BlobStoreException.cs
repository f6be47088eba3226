namespace SaeCluster.Grains;

/// <summary>
/// A blob operation failed for a reason a user can act on (unreachable store, rejected credentials, a bad
/// blob name, a full disk): the message names the store, the blob and the problem.
/// </summary>
public class BlobStoreException : Exception
{
    public BlobStoreException(string store, string blob, string problem, Exception? innerException = null)
        : base(blob.Length == 0 ? $"{store}: {problem}" : $"{store}/{blob}: {problem}", innerException)
    {
        Store = store;
        Blob = blob;
        Problem = problem;
    }

    /// <summary>The store's <see cref="IBlobStore.Location"/>.</summary>
    public string Store { get; }

    /// <summary>The blob name; empty for operations on the whole store (initialisation, listing).</summary>
    public string Blob { get; }

    /// <summary>What went wrong, without the store and blob.</summary>
    public string Problem { get; }
}
