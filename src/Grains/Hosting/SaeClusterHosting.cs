using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Placement;
using Orleans.Persistence.FileStorage;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace SaeCluster.Grains;

/// <summary>
/// Configures Orleans for SaeCluster, the same grains on two sets of providers. A folder: one silo on this
/// machine — localhost clustering, Orleans' file grain storage in {folder}/grains (ETag-checked), in-memory
/// reminders (a restarted silo resumes from what is stored). PostgreSQL: many silos — ADO.NET clustering,
/// grain storage and reminders on our schema (<see cref="OrleansPostgresSchema"/>). Grain state is
/// System.Text.Json without type names, so renaming a class never orphans stored state.
/// </summary>
public static class SaeClusterHosting
{
    public static ISiloBuilder UseSaeCluster(this ISiloBuilder silo, ClusterConfig config, IBlobStore blobs)
    {
        if (config.ApiOnly) throw new ArgumentException("an api-only process is an Orleans client, not a silo");
        silo.Configure<ClusterOptions>(o => { o.ServiceId = config.ServiceId; o.ClusterId = config.ClusterId; });
        silo.Configure<SiloOptions>(o => o.SiloName = config.SiloName);
        var location = config.Location;
        if (location.IsPostgres)
        {
            silo.UseAdoNetClustering(o => { o.Invariant = OrleansPostgresSchema.Invariant; o.ConnectionString = location.PostgresConnectionString; });
            silo.AddAdoNetGrainStorage(StorageNames.Default, o => { o.Invariant = OrleansPostgresSchema.Invariant; o.ConnectionString = location.PostgresConnectionString; });
            silo.UseAdoNetReminderService(o => { o.Invariant = OrleansPostgresSchema.Invariant; o.ConnectionString = location.PostgresConnectionString; });
            if (config.Kubernetes) silo.UseKubernetesHosting();
            else silo.ConfigureEndpoints(config.AdvertisedAddress ?? IPAddress.Loopback, config.SiloPort, config.GatewayPort, listenOnAnyHostAddress: config.AdvertisedAddress != null && !IPAddress.IsLoopback(config.AdvertisedAddress));
        }
        else
        {
            silo.UseLocalhostClustering(config.SiloPort, config.GatewayPort, serviceId: config.ServiceId, clusterId: config.ClusterId);
            silo.AddFileGrainStorage(StorageNames.Default, o => o.RootDirectory = Path.Combine(location.Folder!, "grains"));
            silo.UseInMemoryReminderService();
        }
        silo.UseSystemTextJsonGrainStorageSerializer();

        var metadata = new Dictionary<string, string>(config.Metadata)
        {
            [SiloRoles.RoleKey] = string.Join(",", config.Roles),
            [SiloRoles.SlotsKey] = WorkOptions.Describe(config.Work.Slots),
        };
        silo.UseSiloMetadata(metadata);
        // transient: Orleans initialises one strategy instance per grain type from that type's properties (a
        // singleton would be shared, and the role of whichever type was resolved last would apply to all)
        silo.Services.AddPlacementFilter<RolePlacementStrategy, RolePlacementDirector>(ServiceLifetime.Transient);

        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = config.ProbeTimeout;
            o.NumMissedProbesLimit = config.MissedProbes;
            o.NumVotesForDeathDeclaration = config.DeathVotes;
        });
        silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = config.Sweeps.ReminderPeriod < o.MinimumReminderPeriod ? config.Sweeps.ReminderPeriod : o.MinimumReminderPeriod);
        silo.Configure<GrainCollectionOptions>(o => o.DeactivationTimeout = config.Work.Grace + TimeSpan.FromSeconds(10));

        silo.Services.AddSingleton(config);
        silo.Services.AddSingleton(config.Work);
        silo.Services.AddSingleton(config.Sweeps);
        silo.Services.AddSingleton<IBlobStore>(blobs as MeteredBlobStore ?? new MeteredBlobStore(blobs));
        silo.Services.AddSingleton(sp =>
        {
            var membership = sp.GetRequiredService<IClusterMembershipService>();
            var self = sp.GetRequiredService<ILocalSiloDetails>();
            return new SiloWork(config.SiloName, config.Work, () => membership.CurrentSnapshot.GetSiloStatus(self.SiloAddress));
        });
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloWorkTelemetry>();
        silo.Services.AddSingleton<ClusterRoles>();
        if (config.Roles.Contains(SiloRoles.Coordinator)) silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SweepResumer>();
        return silo;
    }

    /// <summary>An API-only process: an Orleans client that reaches the cluster through its gateways.</summary>
    public static IClientBuilder UseSaeCluster(this IClientBuilder client, ClusterConfig config)
    {
        client.Configure<ClusterOptions>(o => { o.ServiceId = config.ServiceId; o.ClusterId = config.ClusterId; });
        var location = config.Location;
        if (location.IsPostgres)
            client.UseAdoNetClustering(o => { o.Invariant = OrleansPostgresSchema.Invariant; o.ConnectionString = location.PostgresConnectionString; });
        else
            client.UseLocalhostClustering(config.GatewayPort, serviceId: config.ServiceId, clusterId: config.ClusterId);
        client.Services.AddSingleton(config);
        client.Services.AddSingleton<IClientConnectionRetryFilter, GatewayRetryFilter>();
        return client;
    }
}
