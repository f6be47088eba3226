using System.Data.Common;

namespace SaeCluster.Grains;

/// <summary>The bounded set of error kinds the <c>saecluster_errors_total</c> counter is labelled with.</summary>
public static class ErrorKinds
{
    /// <summary>Every kind <see cref="Of"/> gives.</summary>
    public static readonly string[] All = ["store", "blob", "network", "io", "input", "diverged", "other"];

    /// <summary>store, blob, network, io, diverged, input or other — the first that fits the exception or one it wraps.</summary>
    public static string Of(Exception e)
    {
        for (var x = e; x != null; x = x.InnerException)
        {
            switch (x)
            {
                case Sae.TrainingDivergedException: return "diverged";
                case DbException: return "store";
                case BlobStoreException or BlobNotFoundException: return "blob";
                case HttpRequestException or System.Net.Sockets.SocketException or TimeoutException: return "network";
            }
        }
        return e switch
        {
            WorkFailedException => "input",
            FileNotFoundException or DirectoryNotFoundException => "input",
            IOException => "io",
            _ => "other",
        };
    }
}
