using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace SaeCluster.Client.Tests;

/// <summary>
/// Debian's <c>chromium</c>, headless, driven over the DevTools protocol (a WebSocket to its first page): navigate,
/// evaluate script, take screenshots, and collect the console errors, uncaught exceptions, log errors and
/// requested URLs the page produced. A missing chromium fails the test naming the package; it never skips.
/// </summary>
public sealed class HeadlessChromium : IDisposable
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    readonly Process process;
    readonly TempDir profile = new();
    readonly ClientWebSocket socket = new();
    readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> pending = new();
    readonly ConcurrentQueue<JsonObject> events = new();
    Task? reader;
    int nextId;

    /// <summary>Console errors, uncaught exceptions and error log entries, one line each.</summary>
    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>Every URL the page requested.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Starts chromium with a <paramref name="width"/> × <paramref name="height"/> window and connects to its page.</summary>
    public HeadlessChromium(int width, int height)
    {
        string exe = Find() ?? throw new Xunit.Sdk.XunitException("chromium is not installed: install Debian's chromium package (apt-get install -y chromium; scripts/install-deps.sh does, and the test command runs it)");
        var psi = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true };
        // --no-sandbox: tests run as root, which Chromium's sandbox refuses; port 0: a free port, announced on stderr;
        // a private profile, so parallel runs share no lock
        foreach (var a in new[]
        {
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", $"--user-data-dir={profile.Path}",
            $"--window-size={width},{height}", "--hide-scrollbars", "about:blank",
        }) psi.ArgumentList.Add(a);
        process = Process.Start(psi)!;
        try
        {
            Connect();
            foreach (var domain in new[] { "Runtime", "Log", "Network", "Page" }) Send($"{domain}.enable");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    void Connect()
    {
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data == null) { listening.TrySetException(new Xunit.Sdk.XunitException($"chromium exited before DevTools listened:\n{stderr}")); return; }
            lock (stderr) stderr.AppendLine(e.Data);
            const string marker = "DevTools listening on ";
            if (e.Data.StartsWith(marker)) listening.TrySetResult(e.Data[marker.Length..].Trim());
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        if (!listening.Task.Wait(Timeout)) throw new Xunit.Sdk.XunitException($"chromium did not open DevTools within {Timeout}:\n{stderr}");
        var browser = new Uri(listening.Task.Result);
        if (!socket.ConnectAsync(PageSocket(browser), CancellationToken.None).Wait(Timeout)) throw new Xunit.Sdk.XunitException($"could not connect to chromium's page within {Timeout}");
        reader = Task.Run(Read);
    }

    static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "chromium")).FirstOrDefault(File.Exists);

    /// <summary>The WebSocket of the page chromium opened, from its <c>/json/list</c>.</summary>
    static Uri PageSocket(Uri browser)
    {
        using var http = new HttpClient { Timeout = Timeout };
        var targets = JsonNode.Parse(http.GetStringAsync($"http://{browser.Authority}/json/list").Result)!.AsArray();
        var page = targets.First(t => (string?)t!["type"] == "page")!;
        return new Uri((string)page["webSocketDebuggerUrl"]!);
    }

    /// <summary>Sends a command and waits for its result; a protocol error fails the test.</summary>
    public JsonObject Send(string method, JsonObject? parameters = null)
    {
        int id = Interlocked.Increment(ref nextId);
        var done = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = done;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None).Wait(Timeout);
        if (!done.Task.Wait(Timeout)) throw new Xunit.Sdk.XunitException($"chromium did not answer {method} within {Timeout}");
        var reply = done.Task.Result;
        if (reply["error"] is JsonNode error) throw new Xunit.Sdk.XunitException($"{method}: {error.ToJsonString()}");
        return reply["result"]!.AsObject();
    }

    /// <summary>Opens <paramref name="url"/> and waits for its load event.</summary>
    public void Navigate(string url)
    {
        var deadline = DateTime.UtcNow + Timeout;
        events.Clear();
        Send("Page.navigate", new JsonObject { ["url"] = url });
        while (!events.Any(e => (string?)e["method"] == "Page.loadEventFired"))
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"{url} did not load within {Timeout}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Evaluates a JavaScript expression in the page and returns its value (as JSON); an exception fails the test.</summary>
    public JsonNode? Evaluate(string expression)
    {
        var r = Send("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (r["exceptionDetails"] is JsonNode e) throw new Xunit.Sdk.XunitException($"{expression}: {e.ToJsonString()}");
        return r["result"]?["value"];
    }

    /// <summary>A PNG screenshot of the viewport.</summary>
    public byte[] Screenshot() => Convert.FromBase64String((string)Send("Page.captureScreenshot", new JsonObject { ["format"] = "png" })["data"]!);

    async Task Read()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        while (socket.State == WebSocketState.Open)
        {
            WebSocketReceiveResult r;
            try { r = await socket.ReceiveAsync(buffer, CancellationToken.None); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException) { break; } // Dispose aborted the socket
            if (r.MessageType == WebSocketMessageType.Close) break;
            message.Write(buffer, 0, r.Count);
            if (!r.EndOfMessage) continue;
            var o = JsonNode.Parse(message.ToArray())!.AsObject();
            message.SetLength(0);
            if (o["id"] is JsonNode id && pending.TryRemove((int)id, out var done)) done.SetResult(o);
            else if (o["method"] is JsonNode method) Observe((string)method!, o["params"]!.AsObject(), o);
        }
    }

    void Observe(string method, JsonObject p, JsonObject message)
    {
        if (method == "Runtime.exceptionThrown") Errors.Enqueue($"uncaught: {p["exceptionDetails"]!.ToJsonString()}");
        if (method == "Runtime.consoleAPICalled" && (string)p["type"]! is "error" or "assert") Errors.Enqueue($"console.{p["type"]}: {p["args"]!.ToJsonString()}");
        if (method == "Log.entryAdded" && (string)p["entry"]!["level"]! == "error") Errors.Enqueue($"log: {p["entry"]!.ToJsonString()}");
        if (method == "Network.requestWillBeSent") Requests.Enqueue((string)p["request"]!["url"]!);
        events.Enqueue(message);
    }

    public void Dispose()
    {
        try { socket.Abort(); } catch (ObjectDisposedException) { }
        socket.Dispose();
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        reader?.Wait(TimeSpan.FromSeconds(5));
        process.Dispose();
        profile.Dispose();
    }
}
