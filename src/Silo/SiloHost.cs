using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Npgsql;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using SaeCluster.Grains;
using SaeCluster.Sae;

namespace SaeCluster.Silo;

/// <summary>
/// The process of a silo: an Orleans silo (or, with <c>--role api</c>, an Orleans client reaching the
/// cluster through its gateways) co-hosted with ASP.NET Core, which serves the HTTP API through the grain
/// factory, /healthz, /metrics (OpenTelemetry's Prometheus exporter) and the Orleans Dashboard.
/// </summary>
public static class SiloHost
{
    const int MaxSweepBytes = 1 << 20;
    const string TokenCookie = "saecluster-token";
    static readonly string[] YamlTypes = ["text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml", "text/plain"];

    public static WebApplication Build(SiloSettings settings, IBlobStore blobs)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(settings.Urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff "; o.UseUtcTimestamp = true; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = settings.Grace + TimeSpan.FromSeconds(20);
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });

        var config = settings.ClusterConfig();
        if (settings.ApiOnly) builder.UseOrleansClient(client => client.UseSaeCluster(config).AddDashboard());
        else builder.UseOrleans(silo => silo.UseSaeCluster(config, blobs).AddDashboard());
        if (settings.Location.IsPostgres) builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(settings.Location.PostgresConnectionString!));
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddSaeClusterMeters("saecluster-silo", settings.Id).AddPrometheusExporter());
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<DrainState>();
        builder.Services.AddSingleton(sp => new SweepService(sp.GetRequiredService<IGrainFactory>()));

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SaeCluster.Silo");
        var service = app.Services.GetRequiredService<SweepService>();
        var drain = app.Services.GetRequiredService<DrainState>();
        var grains = app.Services.GetRequiredService<IGrainFactory>();
        var work = settings.ApiOnly ? null : app.Services.GetRequiredService<SiloWork>();
        var lifetime = app.Lifetime;
        string mode = settings.ApiOnly ? "API only (an Orleans client of the cluster)" : $"roles {string.Join(",", settings.Roles)}, slots {WorkOptions.Describe(settings.Slots)}";
        lifetime.ApplicationStarted.Register(() =>
            log.LogInformation("silo {Id}: cluster {Cluster}, blob store {Blobs}, data root {DataRoot}, {Mode}{Auth}",
                settings.Id, settings.Location.Display, blobs.Location, settings.DataRoot, mode,
                settings.Token == null ? " (no token: the API is open)" : ", bearer token required"));
        lifetime.ApplicationStopped.Register(() => log.LogInformation("silo {Id} stopped", settings.Id));

        // errors inside /api: JSON {error}; an unreachable store or silo is 503, not a stack trace
        app.Use(async (ctx, next) =>
        {
            try { await next(); }
            catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
            {
                await Error(e.Message, e.StatusCode).ExecuteAsync(ctx);
            }
            catch (Exception e) when (!ctx.Response.HasStarted && !ctx.RequestAborted.IsCancellationRequested)
            {
                var (status, message) = Describe(e, drain);
                if (status == StatusCodes.Status503ServiceUnavailable) log.LogWarning("{Method} {Path}: {Message}", ctx.Request.Method, ctx.Request.Path, message);
                else log.LogError(e, "{Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
                await Error(message, status).ExecuteAsync(ctx);
            }
        });

        // bearer token on /api and /dashboard (not /healthz, /metrics); a browser opens /dashboard?token=… once and keeps a cookie
        if (settings.Token != null)
        {
            byte[] expected = SHA256.HashData(Encoding.UTF8.GetBytes(settings.Token));
            app.Use(async (ctx, next) =>
            {
                bool api = ctx.Request.Path.StartsWithSegments("/api"), dashboard = ctx.Request.Path.StartsWithSegments("/dashboard");
                if (!api && !dashboard) { await next(); return; }
                string header = ctx.Request.Headers.Authorization.ToString();
                bool ok = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && Matches(header["Bearer ".Length..].Trim(), expected)
                    || ctx.Request.Cookies.TryGetValue(TokenCookie, out var cookie) && Matches(cookie, expected);
                if (!ok && dashboard && ctx.Request.Query.TryGetValue("token", out var query) && Matches(query.ToString(), expected))
                {
                    ctx.Response.Cookies.Append(TokenCookie, query.ToString(), new CookieOptions { HttpOnly = true, SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Strict, Path = "/dashboard" });
                    ctx.Response.Redirect(ctx.Request.PathBase + ctx.Request.Path);
                    return;
                }
                if (!ok)
                {
                    ctx.Response.Headers.WWWAuthenticate = "Bearer";
                    await Error("missing or wrong bearer token", StatusCodes.Status401Unauthorized).ExecuteAsync(ctx);
                    return;
                }
                await next();
            });
        }

        // ready: not draining, this silo is Active in the membership (a client: a gateway answers), and a PostgreSQL store answers
        app.MapGet("/healthz", async (CancellationToken ct) =>
        {
            if (lifetime.ApplicationStopping.IsCancellationRequested) return Unhealthy("shutting down");
            if (drain.Draining) return Unhealthy(drain.Drained ? "drained: runs no work until restarted" : "draining");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            if (work != null)
            {
                var self = app.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
                var status = app.Services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.GetSiloStatus(self);
                if (status != SiloStatus.Active) return Unhealthy($"silo is {status.ToString().ToLowerInvariant()} in the cluster membership");
            }
            else
            {
                try { await grains.GetGrain<IClusterInfoGrain>(0).GetSilosAsync().WaitAsync(timeout.Token); }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    return Unhealthy($"no silo of the cluster answers ({(e is OperationCanceledException ? "no answer within 5 s" : e.Message)})");
                }
            }
            if (app.Services.GetService<NpgsqlDataSource>() is { } db)
            {
                try
                {
                    await using var cmd = db.CreateCommand("SELECT 1");
                    await cmd.ExecuteScalarAsync(timeout.Token);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    return Unhealthy($"cluster store {settings.Location.Display} does not answer ({(e is OperationCanceledException ? "no answer within 5 s" : ClusterLocation.Mask(e.Message))})");
                }
            }
            return Results.Text("ok\n", "text/plain");
        });

        // liveness: the process serves HTTP (a store outage is for readiness to report, not a reason to restart)
        app.MapGet("/healthz/live", () => Results.Text("ok\n", "text/plain"));

        // Prometheus text exposition (OpenTelemetry exporter): our meters, GEMM's and Orleans' (no token, like /healthz)
        app.MapPrometheusScrapingEndpoint("/metrics");

        app.MapOrleansDashboard("/dashboard");

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
            if (!await service.DeleteAsync(id, ct)) return NoSweep(id);
            log.LogInformation("sweep {Id} deleted", id);
            return Results.NoContent();
        });

        api.MapGet("/sweeps/{id}/actors", async (string id, CancellationToken ct) =>
            await service.GetWorkAsync(id, ct) is { Count: > 0 } list ? Json(list) : NoSweep(id));

        // every active silo of the cluster with its roles and slots, as the membership and silo metadata have them
        api.MapGet("/silos", async (CancellationToken ct) =>
        {
            var silos = await grains.GetGrain<IClusterInfoGrain>(0).GetSilosAsync().WaitAsync(ct);
            return Json(silos.Select(s => new
            {
                id = s.Name, address = s.Address, status = s.Status.ToLowerInvariant(),
                roles = (s.Metadata.GetValueOrDefault(SiloRoles.RoleKey) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries),
                slots = s.Metadata.GetValueOrDefault(SiloRoles.SlotsKey), metadata = s.Metadata,
            }));
        });

        // this process: its roles and slots, and the work it runs now
        api.MapGet("/silo", () => Json(new
        {
            id = settings.Id,
            apiOnly = settings.ApiOnly,
            roles = settings.Roles,
            slots = settings.ApiOnly ? new Dictionary<string, int>() : settings.Slots,
            drained = drain.Drained,
            activations = (work?.Activations ?? []).Select(a => new { key = a.Key, kind = a.Kind, epoch = a.Epoch, started = a.Started, running = a.HasSlot }),
            activationsStarted = work?.Started ?? 0,
            leasesLost = work?.Fenced ?? 0,
        }));

        // stop running work (it checkpoints and hands back, other silos take it over) and keep serving: `saecluster-silo drain`, a pod's preStop
        api.MapPost("/silo/drain", async (CancellationToken ct) =>
        {
            if (work == null) return Json(new { handedBack = 0, seconds = 0.0 });
            int held = work.Activations.Count;
            var sw = Stopwatch.StartNew();
            if (!drain.Draining)
            {
                drain.Begin();
                log.LogInformation("draining: stopping the silo's {Count} running piece(s) of work (they checkpoint and hand back); the API keeps serving", held);
                await app.Services.GetRequiredService<Orleans.Runtime.Silo>().StopAsync(ct);
                drain.Finish();
                log.LogInformation("drained in {Seconds:F1} s", sw.Elapsed.TotalSeconds);
            }
            return Json(new { handedBack = held, seconds = Math.Round(sw.Elapsed.TotalSeconds, 2) });
        });

        return app;
    }

    static bool Matches(string token, byte[] expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token)), expected);

    // an exception from the grain side, as the API says it
    static (int Status, string Message) Describe(Exception e, DrainState drain)
    {
        if (drain.Drained) return (StatusCodes.Status503ServiceUnavailable, "this silo is drained: ask another silo of the cluster");
        if (e is OrleansException && e.Message.Contains("No active nodes are compatible", StringComparison.Ordinal))
            return (StatusCodes.Status503ServiceUnavailable, $"no silo in the cluster can run this ({(e.Message.Contains("sweep", StringComparison.OrdinalIgnoreCase) ? "sweeps need a silo with --role coordinator" : e.Message)})");
        if (TransientErrors.Is(e) || e is TimeoutException) return (StatusCodes.Status503ServiceUnavailable, $"cluster unavailable: {ClusterLocation.Mask(e.Message)}");
        return (StatusCodes.Status500InternalServerError, $"{e.GetType().Name}: {e.Message}");
    }

    static IResult Unhealthy(string why) => Results.Text(why + "\n", "text/plain", statusCode: StatusCodes.Status503ServiceUnavailable);

    static IResult Json(object? value, int status = StatusCodes.Status200OK) => Results.Json(value, SweepJson.Options, statusCode: status);

    static IResult Error(string message, int status) => Results.Json(new { error = message }, SweepJson.Options, statusCode: status);

    static IResult NoSweep(string id) => Error($"no sweep '{id}'", StatusCodes.Status404NotFound);

    // reads at most MaxSweepBytes + 1 characters, so a larger body is refused without being buffered
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
