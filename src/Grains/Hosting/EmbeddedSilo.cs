using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SaeCluster.Grains;

/// <summary>
/// The whole cluster in this process (<c>saectl run</c>, and the tests' embedded clusters): one Orleans
/// silo with every role, localhost clustering on free ports, grain state in <c>{folder}/grains</c>, blobs
/// in the given store. The folder is locked while the silo runs, so two processes never drive the same
/// run; a silo started again on the same folder resumes from what is stored.
/// </summary>
public sealed class EmbeddedSilo : IAsyncDisposable
{
    readonly IHost _host;
    readonly FileStream? _lock;

    EmbeddedSilo(IHost host, FileStream? folderLock)
    {
        _host = host;
        _lock = folderLock;
        Grains = host.Services.GetRequiredService<IGrainFactory>();
        Sweeps = new SweepService(Grains);
        Work = host.Services.GetRequiredService<SiloWork>();
    }

    public IGrainFactory Grains { get; }
    public SweepService Sweeps { get; }
    public SiloWork Work { get; }
    public IServiceProvider Services => _host.Services;

    public static Task<EmbeddedSilo> StartAsync(string folder, IBlobStore blobs, WorkOptions work, Action<string>? log = null,
        SweepOptions? sweeps = null, string name = "embedded", IReadOnlyList<string>? roles = null, CancellationToken ct = default) =>
        StartAsync(new ClusterConfig
        {
            Location = ClusterLocation.Local(folder),
            ServiceId = "saecluster-embedded",
            ClusterId = "embedded",
            SiloName = name,
            Roles = roles ?? SiloRoles.All,
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
            Work = work,
            Sweeps = sweeps ?? new SweepOptions(),
        }, blobs, log, ct);

    /// <summary>A silo in this process on any cluster location (a PostgreSQL one must have its schema applied).</summary>
    public static async Task<EmbeddedSilo> StartAsync(ClusterConfig config, IBlobStore blobs, Action<string>? log = null, CancellationToken ct = default)
    {
        FileStream? folderLock = null;
        if (config.Location.Folder is { } folder) folderLock = FolderLock.Take(folder);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        if (log != null)
        {
            builder.Logging.AddProvider(new LineLoggerProvider(log));
            builder.Logging.AddFilter("Orleans", LogLevel.Warning);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.Logging.AddFilter("Polly", LogLevel.Warning);
        }
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = config.Work.Grace + TimeSpan.FromSeconds(15));
        builder.UseOrleans(silo => silo.UseSaeCluster(config, blobs));
        var host = builder.Build();
        try { await host.StartAsync(ct); }
        catch
        {
            host.Dispose();
            folderLock?.Dispose();
            throw;
        }
        return new EmbeddedSilo(host, folderLock);
    }

    /// <summary>Stops the silo gracefully: running work checkpoints and hands back before this returns.</summary>
    public async Task StopAsync(CancellationToken ct = default) => await _host.StopAsync(ct);

    public async ValueTask DisposeAsync()
    {
        try { await _host.StopAsync(); } catch (OperationCanceledException) { }
        _host.Dispose();
        if (_lock != null) await _lock.DisposeAsync();
    }
}
