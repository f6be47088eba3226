using SaeCluster.Grains;

namespace SaeCluster.Silo;

/// <summary>
/// saecluster-silo: one silo of the cluster (an Orleans silo with the roles it is given) serving the HTTP
/// API that saectl talks to, or with <c>--role api</c> an API-only Orleans client of the cluster. Applies the
/// PostgreSQL schema at start-up (idempotent), opens the blob store, and runs until SIGTERM / Ctrl-C, when
/// running work checkpoints and hands back before the process exits.
/// </summary>
public static class Program
{
    public const int Usage = 2, Failed = 1;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "drain") return await DrainCommand.RunAsync(args[1..], Environment.GetEnvironmentVariable);
        bool dbInit = args.Length > 1 && args[0] == "db" && args[1] == "init";
        SiloSettings settings;
        try { settings = SiloSettings.Parse(dbInit ? args[2..] : args, Environment.GetEnvironmentVariable); }
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

        // --wait-seconds: a store starting next to the silo (a pod beside its database) is retried until then
        var waitUntil = DateTime.UtcNow + settings.StoreWait;
        if (settings.Location.IsPostgres)
        {
            if (await OpenAsync(ct => OrleansPostgresSchema.ApplyAsync(settings.Location.PostgresConnectionString!, ct), $"the cluster store {settings.Location.Display}", waitUntil) is { } storeError)
            {
                Console.Error.WriteLine($"error: cannot open the cluster store {settings.Location.Display}: {ClusterLocation.Mask(storeError)}");
                return Failed;
            }
        }
        else if (dbInit)
        {
            Console.Error.WriteLine($"error: db init: --cluster {settings.Location.Display} is a folder, not PostgreSQL (a folder needs no schema)");
            return Usage;
        }
        if (dbInit)
        {
            Console.Out.WriteLine($"schema applied to {settings.Location.Display}");
            return 0;
        }

        IBlobStore blobs;
        try { blobs = BlobStores.Open(settings.Blobs, settings.Container); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Usage;
        }
        if (await OpenAsync(blobs.InitializeAsync, $"the blob store {blobs.Location}", waitUntil) is { } blobError)
        {
            Console.Error.WriteLine($"error: cannot open the blob store {blobs.Location}: {blobError}");
            return Failed;
        }

        // a folder holds one silo's state: a second process on it is refused (API-only clients only connect)
        FileStream? folderLock = null;
        if (settings.Location.Folder is { } folder && !settings.ApiOnly)
        {
            try { folderLock = FolderLock.Take(folder); }
            catch (IOException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return Failed;
            }
        }
        await using var _ = folderLock;

        var app = SiloHost.Build(settings, blobs);
        try
        {
            await app.RunAsync();
        }
        catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException || e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"error: cannot listen on {string.Join(";", settings.Urls)}: {e.Message}");
            return Failed;
        }
        catch (Exception e) when (e is OrleansException or System.Net.Sockets.SocketException || e.InnerException is System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"error: cannot start the silo {settings.Id} (silo port {settings.SiloPort}, gateway port {settings.GatewayPort}): {Reason(e)}");
            return Failed;
        }
        finally
        {
            await app.DisposeAsync();
        }
        return Environment.ExitCode;
    }

    // Opens a store (60 s per attempt); transient failures are retried until waitUntil. Null when it answered, else why not.
    static async Task<string?> OpenAsync(Func<CancellationToken, Task> open, string what, DateTime waitUntil)
    {
        var pause = TimeSpan.FromSeconds(1);
        while (true)
        {
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await open(attempt.Token);
                return null;
            }
            catch (Exception e) when (DateTime.UtcNow + pause < waitUntil && (TransientErrors.Is(e) || e is OperationCanceledException))
            {
                Console.Error.WriteLine($"waiting for {ClusterLocation.Mask(what)}: {ClusterLocation.Mask(Reason(e))}; retrying for {(waitUntil - DateTime.UtcNow).TotalSeconds:F0} s more");
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
