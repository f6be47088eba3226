namespace SaeCluster.Grains.Tests;

public sealed class PostgresClusterStoreTests(PostgresServer server) : ClusterStoreConformance, IClassFixture<PostgresServer>
{
    protected override async Task<IClusterStore> CreateStoreAsync()
    {
        var s = new PostgresClusterStore(await server.NewDatabaseAsync(), Clock);
        await s.InitializeAsync();
        return s;
    }
}
