using SaeCluster.Grains;

namespace SaeCluster.Silo.Tests;

/// <summary>The silo's settings (flags over environment over defaults) and the cluster-store factory.</summary>
public class SettingsTests
{
    static SiloSettings Parse(Dictionary<string, string> env, params string[] args) => SiloSettings.Parse(args, k => env.GetValueOrDefault(k));

    [Fact]
    public void FlagsWinOverEnvironmentOverDefaults()
    {
        var defaults = Parse([]);
        Assert.Equal(SiloSettings.DefaultCluster, defaults.Cluster);
        Assert.Equal("runs", defaults.Blobs);
        Assert.Null(defaults.Container); // a folder store gets no container subfolder unless asked
        Assert.Equal(new Dictionary<string, int> { ["coordinator"] = 2, ["producer"] = 1, ["trainer"] = 2 }, defaults.Slots);
        Assert.Equal(TimeSpan.FromSeconds(30), defaults.Lease);
        Assert.Equal(["http://127.0.0.1:5080"], defaults.Urls);
        Assert.Null(defaults.Token);
        Assert.EndsWith($"-{Environment.ProcessId}", defaults.Id);

        var env = new Dictionary<string, string>
        {
            ["SAECLUSTER_CLUSTER"] = "Host=db;Database=c", ["SAECLUSTER_SLOTS"] = "trainer=4", ["SAECLUSTER_TOKEN"] = "from-env",
            ["SAECLUSTER_SILO_ID"] = "env-id", ["SAECLUSTER_BLOBS"] = "UseDevelopmentStorage=true",
        };
        var s = Parse(env, "--slots", "producer=3", "--token=from-flag", "--lease-seconds", "2.5");
        Assert.Equal("Host=db;Database=c", s.Cluster);
        Assert.Equal(new Dictionary<string, int> { ["producer"] = 3 }, s.Slots);
        Assert.Equal("from-flag", s.Token);
        Assert.Equal("env-id", s.Id);
        Assert.Equal("saecluster", s.Container); // Azure: the default container
        Assert.Equal(TimeSpan.FromSeconds(2.5), s.Lease);

        Assert.Null(Parse([], "--slots", "none").Slots);
        Assert.Null(Parse([], "--slots", "none").RuntimeOptions());
        Assert.Throws<SiloUsageException>(() => Parse([], "--slots", "trainer=0"));
        Assert.Throws<SiloUsageException>(() => Parse([], "--urls"));
        Assert.Throws<SiloUsageException>(() => Parse([], "stray"));
    }

    [Theory]
    [InlineData("sqlite:runs/c.db", ClusterStores.Kind.Sqlite, "runs/c.db")]
    [InlineData("sqlite:///tmp/c.db", ClusterStores.Kind.Sqlite, "/tmp/c.db")]
    [InlineData("/var/lib/saecluster/cluster.db", ClusterStores.Kind.Sqlite, "/var/lib/saecluster/cluster.db")]
    [InlineData("Host=pg;Database=cluster;Username=u;Password=p", ClusterStores.Kind.Postgres, "Host=pg;Database=cluster;Username=u;Password=p")]
    [InlineData("postgres://u:p%40ss@pg.example:6543/cluster?sslmode=require", ClusterStores.Kind.Postgres, "Host=pg.example;Port=6543;Username=u;Password=p@ss;Database=cluster;SSL Mode=Require")]
    [InlineData("postgresql://u@/cluster?host=/run/pg", ClusterStores.Kind.Postgres, "Username=u;Database=cluster;Host=/run/pg")]
    public void ClusterStoreLocations(string location, ClusterStores.Kind kind, string target)
    {
        var (k, t) = ClusterStores.Parse(location);
        Assert.Equal(kind, k);
        Assert.Equal(target, t);
    }

    [Theory]
    [InlineData("mysql://u:hunter2@h/db")]
    [InlineData("runs/cluster")]
    [InlineData("Host=h;Password=hunter2;Bogus Key=1")]
    [InlineData("")]
    public void BadClusterStoreLocationsAreNamedWithoutTheirPassword(string location)
    {
        var e = Assert.Throws<ArgumentException>(() => ClusterStores.Parse(location));
        Assert.DoesNotContain("hunter2", e.Message);
        Assert.Contains("cluster store", e.Message);
    }

    [Fact]
    public void MaskHidesPasswords()
    {
        Assert.Equal("postgres://u:***@h:5432/db", ClusterStores.Mask("postgres://u:secret@h:5432/db"));
        Assert.Equal("Host=h;Password=***;Database=d", ClusterStores.Mask("Host=h;Password=secret;Database=d"));
        Assert.Equal("Host=h;pwd=***", ClusterStores.Mask("Host=h;pwd=secret"));
        Assert.Equal("sqlite:runs/c.db", ClusterStores.Mask("sqlite:runs/c.db"));
    }
}
