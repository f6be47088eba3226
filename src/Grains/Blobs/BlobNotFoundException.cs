namespace SaeCluster.Grains;

/// <summary>The blob that was read or downloaded does not exist.</summary>
public class BlobNotFoundException : BlobStoreException
{
    public BlobNotFoundException(string store, string blob, Exception? innerException = null)
        : base(store, blob, "blob not found", innerException)
    {
    }
}
