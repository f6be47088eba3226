using System.Data.Common;
using Orleans.Runtime;

namespace SaeCluster.Grains;

/// <summary>Failures worth retrying: the stores, the network or the cluster, not the input.</summary>
public static class TransientErrors
{
    public static bool Is(Exception e) => e switch
    {
        WorkFailedException or WorkFencedException or BlobNotFoundException or FileNotFoundException or DirectoryNotFoundException => false,
        DbException or BlobStoreException or HttpRequestException or TimeoutException or IOException or System.Net.Sockets.SocketException => true,
        SiloUnavailableException or OrleansMessageRejectionException or OrleansException => true,
        AggregateException ag => ag.InnerExceptions.All(Is),
        _ => e.InnerException != null && Is(e.InnerException),
    };
}
