using System.Net;
using System.Net.Sockets;

namespace SaeCluster.Grains;

/// <summary>Free TCP ports on loopback, for an embedded silo that must not collide with another on this machine.</summary>
public static class FreePorts
{
    public static int Next()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
