using SaeCluster.Grains;

namespace SaeCluster.Silo;

/// <summary>
/// saecluster-silo: one silo of the cluster. Opens the cluster and blob stores, runs the actor runtime
/// (claims coordinators, producers and trainers as its slots allow) and serves the HTTP API that saectl
/// talks to. SIGTERM / Ctrl-C shut it down gracefully: activations checkpoint and hand their leases back
/// before the process exits.
/// </summary>
public static class Program
{
    public const int Usage = 2, Failed = 1;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "drain") return await DrainCommand.RunAsync(args[1..], Environment.GetEnvironmentVariable);
        SiloSettings settings;
        SiloOptions? runtimeOptions;
        try
        {
            settings = SiloSettings.Parse(args, Environment.GetEnvironmentVariable);
            runtimeOptions = settings.RuntimeOptions();
        }
        catch (Exception e) when (e is SiloUsageException or ArgumentException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Usage;
        }
        if (settings.Help)
        {
            Console.Out.Write(SiloSettings.Usage());
            return 0;
        }

        IClusterStore clusterStore;
        IBlobStore blobs;
        string clusterName = ClusterStores.Mask(settings.Cluster);
        try
        {
            clusterStore = ClusterStores.Open(settings.Cluster);
            blobs = BlobStores.Open(settings.Blobs, settings.Container);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Usage;
        }

        await using var store = clusterStore;
        // --wait-seconds: a store starting next to the silo (a pod beside its database) is retried until then
        var waitUntil = DateTime.UtcNow + settings.StoreWait;
        if (await OpenAsync(store.InitializeAsync, $"the cluster store {clusterName}", waitUntil) is { } storeError)
        {
            Console.Error.WriteLine($"error: cannot open the cluster store {clusterName}: {ClusterStores.Mask(storeError)}");
            return Failed;
        }
        if (await OpenAsync(blobs.InitializeAsync, $"the blob store {blobs.Location}", waitUntil) is { } blobError)
        {
            Console.Error.WriteLine($"error: cannot open the blob store {blobs.Location}: {blobError}");
            return Failed;
        }

        var app = SiloHost.Build(settings, runtimeOptions, store, blobs, clusterName);
        try
        {
            await app.RunAsync();
        }
        catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException || e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"error: cannot listen on {string.Join(";", settings.Urls)}: {e.Message}");
            return Failed;
        }
        finally
        {
            await app.DisposeAsync();
        }
        return Environment.ExitCode;
    }

    // Initialises a store (60 s per attempt); transient failures are retried until waitUntil. Null when it answered, else why not.
    static async Task<string?> OpenAsync(Func<CancellationToken, Task> initialize, string what, DateTime waitUntil)
    {
        var pause = TimeSpan.FromSeconds(1);
        while (true)
        {
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await initialize(attempt.Token);
                return null;
            }
            catch (Exception e) when (DateTime.UtcNow + pause < waitUntil && (SiloRuntime.IsTransient(e) || e is OperationCanceledException))
            {
                Console.Error.WriteLine($"waiting for {ClusterStores.Mask(what)}: {ClusterStores.Mask(Reason(e))}; retrying for {(waitUntil - DateTime.UtcNow).TotalSeconds:F0} s more");
                await Task.Delay(pause);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (Exception e) { return Reason(e); }
        }
    }

    /// <summary>The innermost useful message of a startup failure (no stack trace).</summary>
    static string Reason(Exception e)
    {
        if (e is OperationCanceledException) return "no answer within 60 s";
        var inner = e;
        while (inner.InnerException != null && (inner is AggregateException || inner.Message.Length == 0)) inner = inner.InnerException;
        string msg = inner.Message;
        if (inner.InnerException != null && inner.InnerException.Message != msg) msg += $" ({inner.InnerException.Message})";
        return msg;
    }
}
