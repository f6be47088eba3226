using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using SaeCluster.Grains;
using SaeCluster.Sae;

namespace SaeCluster.Silo;

/// <summary>The ASP.NET Core host of a silo: the runtime as a hosted service, and the HTTP API.</summary>
public static class SiloHost
{
    const int MaxSweepBytes = 1 << 20;
    static readonly string[] YamlTypes = ["text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml", "text/plain"];

    public static WebApplication Build(SiloSettings settings, SiloOptions? runtimeOptions, IClusterStore store, IBlobStore blobs, string clusterName)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(settings.Urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff "; o.UseUtcTimestamp = true; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = (runtimeOptions?.ShutdownGrace ?? TimeSpan.Zero) + TimeSpan.FromSeconds(15);
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });

        builder.Services.AddSingleton(_ => SaeClusterMetrics.CreateCollector());
        var service = new SweepService(store, blobs);
        builder.Services.AddSingleton(service);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(sp =>
        {
            if (runtimeOptions == null) return new SiloWorker(null, sp.GetRequiredService<ILogger<SiloWorker>>());
            var runtimeLog = sp.GetRequiredService<ILoggerFactory>().CreateLogger("SaeCluster.Silo.Runtime");
            var runtime = new SiloRuntime(runtimeOptions, store, blobs, SweepActors.Create, line =>
                runtimeLog.Log(line.Contains("failed", StringComparison.Ordinal) || line.Contains("unavailable", StringComparison.Ordinal) || line.Contains("lease lost", StringComparison.Ordinal)
                    ? LogLevel.Warning : LogLevel.Information, "{Line}", line));
            return new SiloWorker(runtime, sp.GetRequiredService<ILogger<SiloWorker>>());
        });
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SiloWorker>());

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SaeCluster.Silo");
        var worker = app.Services.GetRequiredService<SiloWorker>();
        var metrics = app.Services.GetRequiredService<MetricsCollector>(); // listening from now on, before the runtime starts
        var lifetime = app.Lifetime;
        lifetime.ApplicationStarted.Register(() =>
            log.LogInformation("silo {Id}: cluster store {Cluster}, blob store {Blobs}, data root {DataRoot}, {Mode}{Auth}",
                settings.Id, clusterName, blobs.Location, settings.DataRoot,
                runtimeOptions == null ? "API only" : $"slots {SiloOptions.Describe(runtimeOptions.Slots)}",
                settings.Token == null ? " (no token: the API is open)" : ", bearer token required"));

        // errors inside /api: JSON {error}; a store outage is 503, not a stack trace
        app.Use(async (ctx, next) =>
        {
            try { await next(); }
            catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
            {
                await Error(e.Message, e.StatusCode).ExecuteAsync(ctx);
            }
            catch (Exception e) when (!ctx.Response.HasStarted && !ctx.RequestAborted.IsCancellationRequested)
            {
                bool transient = SiloRuntime.IsTransient(e);
                if (transient) log.LogWarning("{Method} {Path}: store unavailable: {Message}", ctx.Request.Method, ctx.Request.Path, e.Message);
                else log.LogError(e, "{Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
                await Error(transient ? $"store unavailable: {ClusterStores.Mask(e.Message)}" : $"{e.GetType().Name}: {e.Message}",
                    transient ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError).ExecuteAsync(ctx);
            }
        });

        // bearer token on /api (not /healthz)
        if (settings.Token != null)
        {
            byte[] expected = SHA256.HashData(Encoding.UTF8.GetBytes(settings.Token));
            app.Use(async (ctx, next) =>
            {
                if (ctx.Request.Path.StartsWithSegments("/api") && !TokenMatches(ctx.Request.Headers.Authorization.ToString(), expected))
                {
                    ctx.Response.Headers.WWWAuthenticate = "Bearer";
                    await Error("missing or wrong bearer token", StatusCodes.Status401Unauthorized).ExecuteAsync(ctx);
                    return;
                }
                await next();
            });
        }

        TimeSpan lease = runtimeOptions?.Lease ?? settings.Lease;

        // ok when the cluster store answers and (unless API-only) the runtime loop heartbeats: the runtime
        // writes this silo's membership row every third of a lease, so a row older than 3 leases means a
        // stuck or dead loop
        app.MapGet("/healthz", async (CancellationToken ct) =>
        {
            if (lifetime.ApplicationStopping.IsCancellationRequested) return Unhealthy("shutting down");
            if (worker.Draining) return Unhealthy(worker.Ended ? "drained: runs no actors until restarted" : "draining");
            if (worker.Fault != null) return Unhealthy($"runtime loop failed: {worker.Fault}");
            if (worker.Runtime != null && worker.Ended) return Unhealthy("runtime loop has ended");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            IReadOnlyList<SiloInfo> live;
            try { live = await store.SilosAsync(3 * lease, timeout.Token); }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                return Unhealthy($"cluster store {clusterName} does not answer ({(e is OperationCanceledException ? "no answer within 5 s" : ClusterStores.Mask(e.Message))})");
            }
            if (worker.Runtime != null && !live.Any(s => s.Id == settings.Id) && DateTime.UtcNow - worker.Started > 3 * lease)
                return Unhealthy($"runtime loop has not heartbeated for {3 * lease.TotalSeconds:F0} s");
            return Results.Text("ok\n", "text/plain");
        });

        // liveness: the process serves HTTP (a store outage is for readiness to report, not a reason to restart)
        app.MapGet("/healthz/live", () => Results.Text("ok\n", "text/plain"));

        // Prometheus text exposition of every SaeCluster instrument, process and GC metrics included (no token, like /healthz)
        app.MapGet("/metrics", () => Results.Text(metrics.Scrape(), MetricsCollector.ContentType));

        var api = app.MapGroup("/api");

        api.MapPost("/sweeps", async (HttpRequest req, CancellationToken ct) =>
        {
            if (req.ContentType is { Length: > 0 } ctype && (!MediaTypeHeaderValue.TryParse(ctype, out var media) || !YamlTypes.Contains(media.MediaType.Value, StringComparer.OrdinalIgnoreCase)))
                return Error($"send the sweep YAML as text/yaml, application/yaml or text/plain (got {ctype})", StatusCodes.Status415UnsupportedMediaType);
            if (req.ContentLength > MaxSweepBytes) return Error($"a sweep YAML is at most {MaxSweepBytes / 1024} KiB", StatusCodes.Status413PayloadTooLarge);
            string text = await ReadTextAsync(req, ct);
            if (text.Length > MaxSweepBytes) return Error($"a sweep YAML is at most {MaxSweepBytes / 1024} KiB", StatusCodes.Status413PayloadTooLarge);
            string source = SourceName(req.Query["source"]);
            SweepSpec spec;
            try { spec = SweepSpec.Parse(text, settings.DataRoot, source); }
            catch (ConfigException e) { return Error(e.Message, StatusCodes.Status400BadRequest); }
            try { await service.SubmitAsync(spec, ct); }
            catch (SweepExistsException e) { return Error(e.Message, StatusCodes.Status409Conflict); }
            log.LogInformation("sweep {Id} submitted: {Sites} site(s) × {Saes} SAE(s), {Tokens:N0} tokens each", spec.Name, spec.Sites.Count, spec.Training.Saes.Count, spec.Training.Tokens);
            req.HttpContext.Response.Headers.Location = $"/api/sweeps/{Uri.EscapeDataString(spec.Name)}";
            return Json(new { id = spec.Name }, StatusCodes.Status201Created);
        });

        api.MapGet("/sweeps", async (CancellationToken ct) => Json(await service.ListAsync(ct)));

        api.MapGet("/sweeps/{id}", async (string id, CancellationToken ct) =>
            await service.GetAsync(id, ct) is { } status ? Json(status) : NoSweep(id));

        api.MapPost("/sweeps/{id}/cancel", async (string id, CancellationToken ct) =>
        {
            if (!await service.CancelAsync(id, ct)) return NoSweep(id);
            log.LogInformation("sweep {Id} cancelled", id);
            return Json(await service.GetAsync(id, ct));
        });

        api.MapDelete("/sweeps/{id}", async (string id, CancellationToken ct) =>
        {
            if (await store.GetAsync(SweepKeys.Coordinator(id), ct) == null) return NoSweep(id);
            await service.DeleteAsync(id, ct);
            log.LogInformation("sweep {Id} deleted", id);
            return Results.NoContent();
        });

        api.MapGet("/sweeps/{id}/actors", async (string id, CancellationToken ct) =>
        {
            var actors = await store.ListAsync(SweepKeys.Prefix(id), null, ct);
            if (!actors.Any(a => a.Key == SweepKeys.Coordinator(id))) return NoSweep(id);
            return Json(actors.Select(a => new ActorView(a.Key, a.Kind, a.Capability, SweepService.StateName(a.Status), a.Epoch, a.Owner, a.LeaseExpires, ActorState.Parse(a.State))));
        });

        // stop claiming, checkpoint and hand every lease back, keep serving: `saecluster-silo drain` (a pod's preStop) calls it
        api.MapPost("/silo/drain", async (CancellationToken ct) =>
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            int handedBack = await worker.DrainAsync(ct);
            return Json(new { drained = true, handedBack, seconds = Math.Round(sw.Elapsed.TotalSeconds, 2) });
        });

        api.MapGet("/silos", async (CancellationToken ct) => Json(await store.SilosAsync(3 * lease, ct)));

        api.MapGet("/silo", async (CancellationToken ct) => Json(new
        {
            id = settings.Id,
            apiOnly = worker.Runtime == null,
            slots = runtimeOptions?.Slots ?? new Dictionary<string, int>(),
            leaseSeconds = lease.TotalSeconds,
            dataRoot = settings.DataRoot,
            started = new DateTimeOffset(worker.Started),
            lastHeartbeat = (await store.SilosAsync(TimeSpan.FromDays(3650), ct)).FirstOrDefault(s => s.Id == settings.Id)?.Heartbeat,
            activations = worker.Runtime?.Activations ?? [],
            activationsStarted = worker.Runtime?.ActivationsStarted ?? 0,
            leasesLost = worker.Runtime?.LeasesLost ?? 0,
        }));

        return app;
    }

    /// <summary>One actor of a sweep as GET /api/sweeps/{id}/actors shows it (state parsed as JSON).</summary>
    public sealed record ActorView(string Key, string Kind, string? Capability, string Status, long Epoch, string? Owner, DateTimeOffset? LeaseExpires, JsonObject State);

    static IResult Json(object? value, int status = StatusCodes.Status200OK) =>
        Results.Json(value, SweepJson.Options, "application/json; charset=utf-8", status);

    static IResult Error(string message, int status) => Json(new { error = message }, status);

    static IResult NoSweep(string id) => Error($"no sweep '{id}'", StatusCodes.Status404NotFound);

    static IResult Unhealthy(string reason) => Results.Text(reason + "\n", "text/plain", Encoding.UTF8, StatusCodes.Status503ServiceUnavailable);

    // constant time over the hashes: neither the token's content nor its length leaks through timing
    static bool TokenMatches(string header, byte[] expected)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        byte[] given = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    static async Task<string> ReadTextAsync(HttpRequest req, CancellationToken ct)
    {
        var limit = req.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false }) limit.MaxRequestBodySize = MaxSweepBytes + 1;
        using var reader = new StreamReader(req.Body, Encoding.UTF8);
        var buffer = new char[MaxSweepBytes + 1];
        int n = 0, r;
        while (n < buffer.Length && (r = await reader.ReadAsync(buffer.AsMemory(n), ct)) > 0) n += r;
        return new string(buffer, 0, n);
    }

    // the file name the client submitted (for error messages), never a path on this machine
    static string SourceName(string? raw)
    {
        string name = Path.GetFileName(raw ?? "").Trim();
        name = string.Concat(name.Where(c => !char.IsControl(c)));
        return name.Length is > 0 and <= 200 ? name : "sweep";
    }
}
