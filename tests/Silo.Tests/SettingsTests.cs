using System.Net;
using SaeCluster.Grains;

namespace SaeCluster.Silo.Tests;

/// <summary>The silo's settings (flags over environment over defaults) and where a cluster keeps its state.</summary>
public class SettingsTests
{
    static SiloSettings Parse(Dictionary<string, string> env, params string[] args) => SiloSettings.Parse(args, k => env.GetValueOrDefault(k));

    [Fact]
    public void FlagsWinOverEnvironmentOverDefaults()
    {
        var defaults = Parse([]);
        Assert.Equal(SiloSettings.DefaultCluster, defaults.Cluster);
        Assert.Equal(Path.GetFullPath(SiloSettings.DefaultCluster), defaults.Location.Folder);
        Assert.Equal("runs", defaults.Blobs);
        Assert.Null(defaults.Container); // a folder store gets no container subfolder unless asked
        Assert.Equal(["coordinator", "producer", "trainer"], defaults.Roles);
        Assert.Equal(new Dictionary<string, int> { ["producer"] = 1, ["trainer"] = 2 }, defaults.Slots);
        Assert.Equal((11111, 30000), (defaults.SiloPort, defaults.GatewayPort));
        Assert.Equal((TimeSpan.FromSeconds(5), 3), (defaults.ProbeTimeout, defaults.MissedProbes)); // Orleans' production defaults
        Assert.Equal(TimeSpan.FromMinutes(1), defaults.ReminderPeriod);
        Assert.Equal(["http://127.0.0.1:5080"], defaults.Urls);
        Assert.Null(defaults.Token);
        Assert.EndsWith($"-{Environment.ProcessId}", defaults.Id);
        Assert.False(defaults.Kubernetes);

        var env = new Dictionary<string, string>
        {
            ["SAECLUSTER_CLUSTER"] = "Host=db;Database=c", ["SAECLUSTER_SLOTS"] = "trainer=4", ["SAECLUSTER_TOKEN"] = "from-env",
            ["SAECLUSTER_SILO_ID"] = "env-id", ["SAECLUSTER_BLOBS"] = "UseDevelopmentStorage=true", ["SAECLUSTER_ROLE"] = "trainer",
        };
        var s = Parse(env, "--slots", "producer=3", "--token=from-flag", "--probe-seconds", "2.5", "--advertise", "10.1.2.3", "--metadata", "gpu=true");
        Assert.Equal("Host=db;Database=c", s.Cluster);
        Assert.True(s.Location.IsPostgres);
        Assert.Equal(["trainer"], s.Roles);
        Assert.Equal(new Dictionary<string, int> { ["producer"] = 3, ["trainer"] = 2 }, s.Slots);
        Assert.Equal("from-flag", s.Token);
        Assert.Equal("env-id", s.Id);
        Assert.Equal("saecluster", s.Container); // Azure: the default container
        Assert.Equal(TimeSpan.FromSeconds(2.5), s.ProbeTimeout);
        Assert.Equal(IPAddress.Parse("10.1.2.3"), s.Advertise);
        Assert.Equal("true", s.Metadata["gpu"]);

        // the Orleans configuration they make
        var c = s.ClusterConfig();
        Assert.Equal(("env-id", 3), (c.SiloName, c.Work.SlotsFor("producer")));
        Assert.Equal(["trainer"], c.Roles);

        // an API-only process, and in a pod the silo's name comes from it
        Assert.True(Parse([], "--role", "api").ApiOnly);
        var pod = Parse(new Dictionary<string, string> { ["POD_NAME"] = "silo-trainer-7f9c", ["POD_NAMESPACE"] = "saecluster" });
        Assert.True(pod.Kubernetes);
        Assert.Equal("silo-trainer-7f9c", pod.Id);

        Assert.Contains("--role api", Assert.Throws<SiloUsageException>(() => Parse([], "--slots", "none")).Message);
        Assert.Throws<SiloUsageException>(() => Parse([], "--slots", "trainer=0"));
        Assert.Contains("takes no slots", Assert.Throws<SiloUsageException>(() => Parse([], "--slots", "coordinator=1")).Message);
        Assert.Contains("unknown role 'gpu'", Assert.Throws<SiloUsageException>(() => Parse([], "--role", "gpu")).Message);
        Assert.Contains("cannot be combined", Assert.Throws<SiloUsageException>(() => Parse([], "--role", "api,trainer")).Message);
        Assert.Throws<SiloUsageException>(() => Parse([], "--urls"));
        Assert.Throws<SiloUsageException>(() => Parse([], "stray"));
        Assert.Throws<SiloUsageException>(() => Parse([], "--silo-port", "70000"));
        Assert.Throws<SiloUsageException>(() => Parse([], "--advertise", "somewhere"));
    }

    [Theory]
    [InlineData("Host=pg;Database=cluster;Username=u;Password=p", "Host=pg;Database=cluster;Username=u;Password=p")]
    [InlineData("postgres://u:p%40ss@pg.example:6543/cluster?sslmode=require", "Host=pg.example;Port=6543;Username=u;Password=p@ss;Database=cluster;SSL Mode=Require")]
    [InlineData("postgresql://u@/cluster?host=/run/pg", "Username=u;Database=cluster;Host=/run/pg")]
    public void PostgresLocations(string location, string connectionString)
    {
        var l = ClusterLocation.Parse(location);
        Assert.True(l.IsPostgres);
        Assert.Equal(connectionString, l.PostgresConnectionString);
        Assert.DoesNotContain("p@ss", l.Display);
    }

    [Theory]
    [InlineData("runs/cluster")]
    [InlineData("/var/lib/saecluster")]
    public void FolderLocations(string location)
    {
        var l = ClusterLocation.Parse(location);
        Assert.False(l.IsPostgres);
        Assert.Equal(Path.GetFullPath(location), l.Folder);
    }

    [Theory]
    [InlineData("mysql://u:hunter2@h/db", "is neither a folder")]
    [InlineData("sqlite:runs/c.db", "SQLite cluster stores are gone")]
    [InlineData("Host=h;Password=hunter2;Bogus Key=1", "not a valid PostgreSQL connection string")]
    [InlineData("", "is empty")]
    public void BadLocationsAreNamedWithoutTheirPassword(string location, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ClusterLocation.Parse(location));
        Assert.DoesNotContain("hunter2", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void MaskHidesPasswords()
    {
        Assert.Equal("postgres://u:***@h:5432/db", ClusterLocation.Mask("postgres://u:secret@h:5432/db"));
        Assert.Equal("Host=h;Password=***;Database=d", ClusterLocation.Mask("Host=h;Password=secret;Database=d"));
        Assert.Equal("Host=h;pwd=***", ClusterLocation.Mask("Host=h;pwd=secret"));
        Assert.Equal("runs/.cluster", ClusterLocation.Mask("runs/.cluster"));
    }
}
