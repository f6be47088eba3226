using System.Net;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using SaeCluster.Grains;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary><c>--metrics HOST:PORT</c>: the embedded cluster's instruments served at http://HOST:PORT/metrics by OpenTelemetry's Prometheus exporter.</summary>
public static class MetricsEndpoint
{
    /// <summary>The meter provider serving /metrics, or a <see cref="ConfigException"/> naming the flag when the address is bad or busy.</summary>
    public static (MeterProvider Provider, string Url) Start(string address)
    {
        string a = address.Trim();
        int colon = a.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(a[(colon + 1)..], out int port) || port is < 1 or > 65535)
            throw new ConfigException("--metrics", $"'{address}' is not HOST:PORT (e.g. 127.0.0.1:9464)");
        string host = a[..colon].Trim('[', ']');
        if (host is not ("localhost" or "*" or "+") && !IPAddress.TryParse(host, out _))
            throw new ConfigException("--metrics", $"'{host}' is not an IP address, localhost or *");
        string url = $"http://{(host.Contains(':') ? $"[{host}]" : host)}:{port}/metrics";
        try
        {
            var provider = Sdk.CreateMeterProviderBuilder()
                .AddSaeClusterMeters("saectl", $"saectl-{Environment.ProcessId}")
                .AddPrometheusHttpListener(o => { o.Host = host; o.Port = port; o.ScrapeResponseCacheDurationMilliseconds = 0; })
                .Build();
            return (provider, url);
        }
        catch (Exception e) when (e is HttpListenerException or InvalidOperationException)
        {
            throw new ConfigException("--metrics", $"cannot serve metrics on {a}: {e.Message}");
        }
    }
}
