using System.Net.Http.Headers;
using System.Text.Json;

namespace SaeCluster.Silo;

/// <summary>
/// <c>saecluster-silo drain</c>: asks the silo running in this container (its first --urls / SAECLUSTER_URLS
/// address, on loopback) to stop its Orleans silo gracefully — running work checkpoints and hands back, other silos take it over —
/// and waits until it has — a Kubernetes preStop hook, so that SIGTERM finds nothing left to save.
/// Reads the same flags and environment as the silo (the token, the URLs, the grace period).
/// </summary>
public static class DrainCommand
{
    public static async Task<int> RunAsync(string[] args, Func<string, string?> env)
    {
        SiloSettings settings;
        try { settings = SiloSettings.Parse(args, env); }
        catch (Exception e) when (e is SiloUsageException or ArgumentException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Program.Usage;
        }
        if (settings.Help)
        {
            Console.Out.Write("saecluster-silo drain — stops this silo's work (it checkpoints and hands back) while the API keeps serving (a preStop hook)\n\nTakes the silo's options (--urls, --token, --grace-seconds and their SAECLUSTER_* variables).\n");
            return 0;
        }
        Uri url;
        try { url = LocalUrl(settings.Urls[0]); }
        catch (SiloUsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Program.Usage;
        }
        using var http = new HttpClient { BaseAddress = url, Timeout = settings.Grace + TimeSpan.FromSeconds(30) };
        if (settings.Token != null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.Token);
        try
        {
            using var response = await http.PostAsync("api/silo/drain", null);
            string body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                Console.Error.WriteLine($"error: {url}: drain answered {(int)response.StatusCode}: {body.Trim()}");
                return Program.Failed;
            }
            using var doc = JsonDocument.Parse(body);
            Console.Out.WriteLine($"drained {url}: {doc.RootElement.GetProperty("handedBack").GetInt32()} piece(s) of work handed back in {doc.RootElement.GetProperty("seconds").GetDouble():F1} s");
            return 0;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"error: cannot drain the silo at {url}: {e.Message}");
            return Program.Failed;
        }
    }

    // http://0.0.0.0:8080, http://+:8080, http://*:8080, http://[::]:8080 → http://127.0.0.1:8080/
    static Uri LocalUrl(string listen)
    {
        string s = listen.Replace("://+", "://127.0.0.1").Replace("://*", "://127.0.0.1").Replace("://0.0.0.0", "://127.0.0.1").Replace("://[::]", "://127.0.0.1");
        if (!Uri.TryCreate(s, UriKind.Absolute, out var u)) throw new SiloUsageException($"--urls: '{listen}' is not a URL");
        return new Uri(u.GetLeftPart(UriPartial.Authority) + "/");
    }
}
