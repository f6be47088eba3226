using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SaeCluster.Grains.Tests;

/// <summary>What <see cref="FaultProxy"/> does with one request.</summary>
public enum ProxyFault
{
    /// <summary>Forward it and relay the answer.</summary>
    None,
    /// <summary>Answer 503 ServerBusy without forwarding.</summary>
    ServiceUnavailable,
    /// <summary>Reset the connection without forwarding.</summary>
    Drop,
    /// <summary>Never answer (until <see cref="FaultProxy.StallTime"/> passes, then close).</summary>
    Stall,
    /// <summary>Forward it (the server acts on it), then reset the connection instead of relaying the answer.</summary>
    LoseAnswer,
    /// <summary>Forward it and relay only the first <see cref="FaultProxy.TruncateAfter"/> bytes of the answer, then reset.</summary>
    Truncate,
}

/// <summary>One request the proxy saw: its number (0-based, in arrival order), request line and head.</summary>
public sealed record ProxyRequest(int Index, string Method, string Target, string Head)
{
    public bool HasHeader(string name) =>
        Head.Split("\r\n").Any(line => line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// A small HTTP/1.1 proxy on a loopback port in front of a server (Azurite), one request per connection,
/// that injects faults chosen per request by a plan: 503s, resets, stalls, lost answers, cut-off bodies.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    readonly int _upstreamPort;
    readonly Func<ProxyRequest, ProxyFault> _plan;
    readonly TcpListener _listener;
    readonly CancellationTokenSource _stop = new();
    readonly ConcurrentQueue<ProxyRequest> _requests = new();
    readonly ConcurrentDictionary<Task, bool> _connections = new();
    readonly Task _acceptLoop;
    int _next = -1;

    public FaultProxy(int upstreamPort, Func<ProxyRequest, ProxyFault> plan)
    {
        _upstreamPort = upstreamPort;
        _plan = plan;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>The development account's blob endpoint through the proxy.</summary>
    public string BlobEndpoint => $"http://127.0.0.1:{Port}/devstoreaccount1";

    /// <summary>How long a stalled request is held.</summary>
    public TimeSpan StallTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes of the answer (head included) relayed before a <see cref="ProxyFault.Truncate"/> cut.</summary>
    public int TruncateAfter { get; init; } = 1 << 20;

    /// <summary>The requests seen so far, in arrival order.</summary>
    public IReadOnlyList<ProxyRequest> Requests => _requests.OrderBy(r => r.Index).ToList();

    /// <summary>A plan that applies <paramref name="fault"/> to the first <paramref name="count"/> requests and forwards the rest.</summary>
    public static Func<ProxyRequest, ProxyFault> First(int count, ProxyFault fault) => r => r.Index < count ? fault : ProxyFault.None;

    async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Task connection = HandleAsync(client);
            _connections[connection] = true;
            _ = connection.ContinueWith(t => _connections.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    async Task HandleAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                NetworkStream downstream = client.GetStream();
                (byte[] head, byte[] body)? request = await ReadRequestAsync(downstream, _stop.Token);
                if (request is null) return;
                string headText = Encoding.Latin1.GetString(request.Value.head);
                string[] requestLine = headText[..headText.IndexOf("\r\n", StringComparison.Ordinal)].Split(' ');
                var seen = new ProxyRequest(Interlocked.Increment(ref _next), requestLine[0], requestLine.Length > 1 ? requestLine[1] : "", headText);
                _requests.Enqueue(seen);
                ProxyFault fault = _plan(seen);
                switch (fault)
                {
                    case ProxyFault.ServiceUnavailable:
                        byte[] error = Encoding.UTF8.GetBytes("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code><Message>Injected by the test proxy.</Message></Error>");
                        string answer = $"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nx-ms-error-code: ServerBusy\r\nContent-Length: {error.Length}\r\nConnection: close\r\n\r\n";
                        await downstream.WriteAsync(Encoding.ASCII.GetBytes(answer), _stop.Token);
                        await downstream.WriteAsync(error, _stop.Token);
                        return;
                    case ProxyFault.Drop:
                        Reset(client);
                        return;
                    case ProxyFault.Stall:
                        await Task.Delay(StallTime, _stop.Token);
                        return;
                }

                using var upstreamClient = new TcpClient();
                await upstreamClient.ConnectAsync(IPAddress.Loopback, _upstreamPort, _stop.Token);
                NetworkStream upstream = upstreamClient.GetStream();
                var rewritten = new StringBuilder();
                foreach (string line in headText.Split("\r\n"))
                {
                    if (line.Length == 0 || line.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase)) continue;
                    rewritten.Append(line).Append("\r\n");
                }
                rewritten.Append("Connection: close\r\n\r\n");
                await upstream.WriteAsync(Encoding.Latin1.GetBytes(rewritten.ToString()), _stop.Token);
                await upstream.WriteAsync(request.Value.body, _stop.Token);

                var buffer = new byte[81920];
                long relayed = 0;
                while (true)
                {
                    int n = await upstream.ReadAsync(buffer, _stop.Token);
                    if (n == 0) break;
                    if (fault == ProxyFault.LoseAnswer) continue; // the server finishes; the client never hears
                    if (fault == ProxyFault.Truncate && relayed + n >= TruncateAfter)
                    {
                        await downstream.WriteAsync(buffer.AsMemory(0, (int)(TruncateAfter - relayed)), _stop.Token);
                        await downstream.FlushAsync(_stop.Token);
                        Reset(client);
                        return;
                    }
                    await downstream.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                    relayed += n;
                }
                if (fault == ProxyFault.LoseAnswer) Reset(client);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // the client gave up (timeout) or the proxy is stopping
            }
        }
    }

    static void Reset(TcpClient client)
    {
        try
        {
            client.Client.LingerState = new LingerOption(true, 0); // close with RST
            client.Client.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    /// <summary>Reads one request: its head (through the blank line) and a Content-Length body.</summary>
    static async Task<(byte[] Head, byte[] Body)?> ReadRequestAsync(NetworkStream stream, CancellationToken ct)
    {
        var received = new MemoryStream();
        var buffer = new byte[16384];
        int headEnd = -1;
        while (headEnd < 0)
        {
            int n = await stream.ReadAsync(buffer, ct);
            if (n == 0) return null;
            received.Write(buffer, 0, n);
            headEnd = IndexOfBlankLine(received.GetBuffer().AsSpan(0, (int)received.Length));
            if (received.Length > 1 << 20) return null;
        }
        byte[] all = received.ToArray();
        byte[] head = all[..(headEnd + 4)];
        string headText = Encoding.Latin1.GetString(head);
        long length = 0;
        foreach (string line in headText.Split("\r\n"))
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                length = long.Parse(line["Content-Length:".Length..].Trim());
        var body = new MemoryStream();
        body.Write(all, head.Length, all.Length - head.Length);
        while (body.Length < length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - body.Length)), ct);
            if (n == 0) return null;
            body.Write(buffer, 0, n);
        }
        return (head[..^2], body.ToArray()); // the head without the blank line's CRLF: it is re-added when forwarding
    }

    static int IndexOfBlankLine(ReadOnlySpan<byte> data) => data.IndexOf("\r\n\r\n"u8);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        try { await Task.WhenAll(_connections.Keys); } catch { /* already reported by the tests */ }
        _stop.Dispose();
    }
}
