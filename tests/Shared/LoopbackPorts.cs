using System.Net;
using System.Net.Sockets;

namespace SaeCluster.Testing;

/// <summary>Ports for the servers the tests start on loopback.</summary>
public static class LoopbackPorts
{
    /// <summary>A loopback port nothing listens on right now.</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
