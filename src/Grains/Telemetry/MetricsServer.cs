using System.Net;
using System.Text;

namespace SaeCluster.Grains;

/// <summary>
/// A minimal /metrics endpoint for processes that are not ASP.NET hosts (<c>saectl run</c>): serves the
/// collector's exposition on <c>http://HOST:PORT/metrics</c> until disposed.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    readonly HttpListener _listener = new();
    readonly MetricsCollector _collector;
    readonly Task _loop;

    public string Url { get; }

    /// <param name="address">HOST:PORT to listen on (e.g. 127.0.0.1:9464, or *:9464 for every interface).</param>
    public MetricsServer(string address, MetricsCollector collector)
    {
        _collector = collector;
        int colon = address.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(address[(colon + 1)..], out int port) || port is < 1 or > 65535 || address[..colon].Contains('/'))
            throw new ArgumentException($"'{address}' is not HOST:PORT (e.g. 127.0.0.1:9464)");
        string host = colon == 0 ? "127.0.0.1" : address[..colon];
        string prefix = $"http://{host}:{port}/";
        _listener.Prefixes.Add(prefix);
        try { _listener.Start(); }
        catch (HttpListenerException e) { throw new ArgumentException($"cannot listen on {address}: {e.Message}"); }
        Url = prefix.Replace("*", "127.0.0.1") + "metrics";
        _loop = Task.Run(ServeAsync);
    }

    async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try
            {
                if (ctx.Request.Url?.AbsolutePath != "/metrics")
                {
                    ctx.Response.StatusCode = 404;
                    continue;
                }
                byte[] body = Encoding.UTF8.GetBytes(_collector.Scrape());
                ctx.Response.ContentType = MetricsCollector.ContentType;
                ctx.Response.ContentLength64 = body.Length;
                await ctx.Response.OutputStream.WriteAsync(body);
            }
            catch (Exception e) when (e is HttpListenerException or IOException) { }
            finally { try { ctx.Response.Close(); } catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { } }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
