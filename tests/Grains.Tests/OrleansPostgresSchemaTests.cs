using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Messaging;
using Orleans.Runtime;
using Orleans.Runtime.Membership;
using Orleans.Runtime.MembershipService;
using Orleans.Storage;

namespace SaeCluster.Grains.Tests;

/// <summary>
/// Real Orleans (10.4.2 ADO.NET providers, invariant "Npgsql") on our schema (<see cref="OrleansPostgresSchema"/>),
/// in process, on loopback, each test on a fresh database with its own ClusterId and ServiceId.
/// </summary>
public sealed class OrleansPostgresSchemaTests(PostgresServer server) : IClassFixture<PostgresServer>
{
    const string Storage = "pg", DeletingStorage = "pg-delete";

    static readonly string[] QueryKeys =
    [
        "InsertMembershipVersionKey", "MembershipReadAllKey", "MembershipReadRowKey", "InsertMembershipKey",
        "UpdateMembershipKey", "UpdateIAmAlivetimeKey", "GatewaysQueryKey", "DeleteMembershipTableEntriesKey",
        "CleanupDefunctSiloEntriesKey",
        "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey", "DeleteStorageKey",
        "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key", "ReadRangeRows2Key",
        "UpsertReminderRowKey", "DeleteReminderRowKey", "DeleteReminderRowsKey",
    ];

    // ---------------------------------------------------------------------------------------------
    // The schema itself
    // ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Schema_applies_twice_and_from_three_silos_at_once()
    {
        string cs = await server.NewDatabaseAsync();
        await OrleansPostgresSchema.ApplyAsync(cs);
        // A stale query text (an older version of ours) and a key we do not ship: applying again fixes both.
        await Exec(cs, "UPDATE OrleansQuery SET QueryText = 'SELECT 1' WHERE QueryKey = 'GatewaysQueryKey'");
        await Exec(cs, "INSERT INTO OrleansQuery VALUES ('CleanupDefunctSiloEntryKey', 'SELECT 1')");
        await OrleansPostgresSchema.ApplyAsync(cs);

        Assert.Equal(QueryKeys.Order(StringComparer.Ordinal), await Strings(cs, "SELECT QueryKey FROM OrleansQuery ORDER BY QueryKey COLLATE \"C\""));
        Assert.Contains("ProxyPort > 0", await Scalar<string>(cs, "SELECT QueryText FROM OrleansQuery WHERE QueryKey = 'GatewaysQueryKey'"));
        Assert.Equal(
            new[] { "orleansmembershiptable", "orleansmembershipversiontable", "orleansquery", "orleansreminderstable", "orleansstorage" },
            await Strings(cs, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"));

        string concurrent = await server.NewDatabaseAsync();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => OrleansPostgresSchema.ApplyAsync(concurrent))));
        Assert.Equal(QueryKeys.Length, await Scalar<long>(concurrent, "SELECT count(*) FROM OrleansQuery"));
        Assert.Equal(5L, await Scalar<long>(concurrent, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"));
    }

    [Fact]
    public async Task Schema_errors_surface_as_Npgsql_exceptions()
    {
        var missing = await Assert.ThrowsAsync<PostgresException>(() => OrleansPostgresSchema.ApplyAsync(
            $"Host=127.0.0.1;Port={server.Port};Username=postgres;Database=no_such_db_{Guid.NewGuid():N}"));
        Assert.Equal(PostgresErrorCodes.InvalidCatalogName, missing.SqlState);

        var unreachable = await Assert.ThrowsAsync<NpgsqlException>(() => OrleansPostgresSchema.ApplyAsync(
            $"Host=127.0.0.1;Port={LoopbackPorts.Free()};Username=postgres;Database=postgres;Timeout=5"));
        Assert.IsNotType<PostgresException>(unreachable);
    }

    // ---------------------------------------------------------------------------------------------
    // Clustering: the membership table contract, then real silos
    // ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Membership_table_versions_rows_and_refuses_stale_writes()
    {
        string cs = await NewSchemaDatabaseAsync();
        string clusterId = NewId("cluster");
        var table = NewMembershipTable(cs, clusterId);
        await table.InitializeMembershipTableAsync(true);
        await table.InitializeMembershipTableAsync(true); // the version row exists already: fine

        var empty = await table.ReadAllAsync();
        Assert.Empty(empty.Members);
        Assert.Equal(0, empty.Version.Version);
        Assert.Equal("0", empty.Version.VersionEtag);

        var start = DateTime.UtcNow;
        var a = Entry(11111, 7, SiloStatus.Joining, start);
        var b = Entry(11112, 8, SiloStatus.Active, start);
        Assert.True(await table.InsertRowAsync(a, empty.Version.Next()));
        Assert.False(await table.InsertRowAsync(b, empty.Version.Next())); // stale table version
        Assert.False(await table.InsertRowAsync(a, (await table.ReadAllAsync()).Version.Next())); // row exists
        var one = await table.ReadAllAsync();
        Assert.Equal(1, one.Version.Version); // the refused inserts did not move the version
        var (readA, etagA) = Assert.Single(one.Members);
        Assert.Equal("1", etagA);
        Assert.Equal(a.SiloAddress, readA.SiloAddress);
        Assert.Equal((a.SiloName, a.HostName, a.Status, a.ProxyPort), (readA.SiloName, readA.HostName, readA.Status, readA.ProxyPort));
        Assert.Equal(DateTimeKind.Utc, readA.StartTime.Kind);
        Assert.True(Math.Abs((readA.StartTime - a.StartTime).TotalMilliseconds) < 1, $"{readA.StartTime:O} vs {a.StartTime:O}");
        Assert.Null(readA.SuspectTimes);
        // Stored as the right instant (timestamptz), whatever the session's time zone.
        Assert.Equal("Asia/Kolkata", await Scalar<string>(cs, "SHOW TimeZone"));
        double stored = (double)await Scalar<decimal>(cs, "SELECT extract(epoch FROM StartTime) FROM OrleansMembershipTable WHERE Port = 11111");
        Assert.Equal((a.StartTime - DateTime.UnixEpoch).TotalSeconds, stored, 3);

        // Two silos insert against the same version at once: exactly one wins.
        var c = Entry(11113, 9, SiloStatus.Joining, start);
        var results = await Task.WhenAll(
            Task.Run(() => table.InsertRowAsync(b, one.Version.Next())),
            Task.Run(() => table.InsertRowAsync(c, one.Version.Next())));
        Assert.Single(results, r => r);
        var three = await table.ReadAllAsync();
        Assert.Equal(2, three.Version.Version);
        Assert.Equal(2, three.Members.Count);
        var loser = results[0] ? c : b;
        Assert.True(await table.InsertRowAsync(loser, three.Version.Next()));

        // UpdateRow: with the current etag it lands (status, suspect times, IAmAlive) and bumps the version.
        var now = await table.ReadAllAsync();
        readA = now.Members.Single(m => m.Item1.SiloAddress.Equals(a.SiloAddress)).Item1;
        readA.Status = SiloStatus.Active;
        readA.SuspectTimes = [Tuple.Create(b.SiloAddress, start.AddSeconds(1))];
        readA.IAmAliveTime = start.AddSeconds(2);
        Assert.True(await table.UpdateRowAsync(readA, now.Version.VersionEtag, now.Version.Next()));
        Assert.False(await table.UpdateRowAsync(readA, now.Version.VersionEtag, now.Version.Next())); // stale
        var row = await table.ReadRowAsync(a.SiloAddress);
        Assert.Equal(now.Version.Version + 1, row.Version.Version);
        var (rowA, _) = Assert.Single(row.Members);
        Assert.Equal(SiloStatus.Active, rowA.Status);
        var (suspect, at) = Assert.Single(rowA.SuspectTimes!);
        Assert.Equal(b.SiloAddress, suspect);
        Assert.True(Math.Abs((at - start.AddSeconds(1)).TotalMilliseconds) < 1);
        var unknown = await table.ReadRowAsync(SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 1), 1));
        Assert.Empty(unknown.Members);
        Assert.Equal(row.Version.Version, unknown.Version.Version);

        // IAmAlive moves the time, not the version.
        rowA.IAmAliveTime = start.AddSeconds(30);
        await table.UpdateIAmAliveAsync(rowA);
        var alive = await table.ReadRowAsync(a.SiloAddress);
        Assert.Equal(row.Version.Version, alive.Version.Version);
        Assert.True(Math.Abs((alive.Members[0].Item1.IAmAliveTime - start.AddSeconds(30)).TotalMilliseconds) < 1);

        // The gateways are the Active rows' proxy endpoints.
        var gateways = NewGatewayListProvider(cs, clusterId);
        await gateways.InitializeGatewayListProviderAsync();
        var uris = await gateways.GetGatewaysAsync();
        Assert.Equal(
            new[] { a, b }.Select(e => SiloAddress.New(new IPEndPoint(e.SiloAddress.Endpoint.Address, e.ProxyPort), e.SiloAddress.Generation).ToGatewayUri().ToString()).Order(),
            uris.Select(u => u.ToString()).Order());

        // Cleanup removes Dead rows older than the cut-off, nothing else.
        var latest = await table.ReadAllAsync();
        var deadC = latest.Members.Single(m => m.Item1.SiloAddress.Equals(c.SiloAddress)).Item1;
        deadC.Status = SiloStatus.Dead;
        Assert.True(await table.UpdateRowAsync(deadC, latest.Version.VersionEtag, latest.Version.Next()));
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddMinutes(-5)); // c is younger than that
        Assert.Equal(3, (await table.ReadAllAsync()).Members.Count);
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddMinutes(5));
        var afterCleanup = await table.ReadAllAsync();
        Assert.Equal(new[] { a.SiloAddress.ToString(), b.SiloAddress.ToString() }.Order(), afterCleanup.Members.Select(m => m.Item1.SiloAddress.ToString()).Order());

        // Another cluster in the same database is untouched by DeleteMembershipTableEntries.
        string other = NewId("other");
        var otherTable = NewMembershipTable(cs, other);
        await otherTable.InitializeMembershipTableAsync(true);
        Assert.True(await otherTable.InsertRowAsync(a, (await otherTable.ReadAllAsync()).Version.Next()));
        await table.DeleteMembershipTableEntriesAsync(clusterId);
        Assert.Equal(0L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansMembershipTable WHERE DeploymentId = @p0", clusterId));
        Assert.Equal(0L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansMembershipVersionTable WHERE DeploymentId = @p0", clusterId));
        Assert.Single((await otherTable.ReadAllAsync()).Members);
    }

    [Fact]
    public async Task Two_silos_form_one_cluster_a_client_calls_through_the_table_and_a_stopped_silo_is_dead()
    {
        string cs = await NewSchemaDatabaseAsync();
        string clusterId = NewId("cluster"), serviceId = NewId("service");
        await using var a = await TestSilo.StartAsync(cs, clusterId, serviceId);
        await using var b = await TestSilo.StartAsync(cs, clusterId, serviceId);
        await Eventually(() => a.SeesActive(a, b) && b.SeesActive(a, b), "both silos Active in both views");

        Assert.Equal(2L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansMembershipTable WHERE DeploymentId = @p0 AND Status = 3", clusterId));
        Assert.Equal(
            new[] { a.GatewayPort, b.GatewayPort }.Order(),
            (await Ints(cs, "SELECT ProxyPort FROM OrleansMembershipTable WHERE DeploymentId = @p0", clusterId)).Order());
        Assert.True(await Scalar<int>(cs, "SELECT Version FROM OrleansMembershipVersionTable WHERE DeploymentId = @p0", clusterId) >= 2);

        await using var client = await TestClient.StartAsync(cs, clusterId, serviceId);
        var listed = await client.Services.GetRequiredService<IGatewayListProvider>().GetGatewaysAsync();
        Assert.Equal(new[] { a.GatewayPort, b.GatewayPort }.Order(), listed.Select(u => u.Port).Order());
        var echo = client.Grains.GetGrain<IPgEchoGrain>("echo-1");
        Assert.Equal("hello from echo-1", await echo.Echo("hello"));
        Assert.Contains(await echo.Silo(), new[] { a.Address.ToString(), b.Address.ToString() });

        await b.StopAsync();
        await Eventually(() => a.StatusOf(b.Address) == SiloStatus.Dead, "A sees B Dead");
        Assert.Equal(SiloStatus.Dead, (SiloStatus)await Scalar<int>(cs,
            "SELECT Status FROM OrleansMembershipTable WHERE DeploymentId = @p0 AND Port = @p1", clusterId, b.Address.Endpoint.Port));
        Assert.Equal(new[] { a.GatewayPort }, await Ints(cs, "SELECT ProxyPort FROM OrleansMembershipTable WHERE DeploymentId = @p0 AND Status = 3", clusterId));
        // The client still reaches the cluster, now through A alone.
        var echo2 = client.Grains.GetGrain<IPgEchoGrain>("echo-2");
        Assert.Equal("again from echo-2", await echo2.Echo("again"));
        Assert.Equal(a.Address.ToString(), await echo2.Silo());
    }

    // ---------------------------------------------------------------------------------------------
    // Grain storage
    // ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Grain_state_persists_across_deactivation_for_string_and_guid_keys_and_clears()
    {
        string cs = await NewSchemaDatabaseAsync();
        string serviceId = NewId("service");
        await using var silo = await TestSilo.StartAsync(cs, NewId("cluster"), serviceId);

        const string key = "sweep-1/trainer/0.res";
        var byString = silo.Grains.GetGrain<IPgStringCounterGrain>(key);
        var guid = Guid.NewGuid();
        var byGuid = silo.Grains.GetGrain<IPgGuidCounterGrain>(guid);
        foreach (IPgCounter grain in new IPgCounter[] { byString, byGuid })
        {
            Assert.Equal(0, await grain.Get());
            Assert.Equal(5, await grain.Add(5, "first"));
            Assert.Equal(12, await grain.Add(7, "second"));
            var first = await grain.Activation();
            await grain.Deactivate();
            await Eventually(async () => await grain.Activation() != first, "a new activation");
            Assert.Equal(12, await grain.Get()); // read back from PostgreSQL by the new activation
            Assert.Equal("second", await grain.Note());
        }

        // How the provider lays the keys out: a string key is GrainIdExtensionString (N0 = N1 = 0), a Guid
        // key is N0/N1 with no extension; GrainTypeString is the state name; the state is our serializer's
        // UTF-8 JSON in PayloadBinary (bytea).
        var rows = await Rows(cs,
            "SELECT GrainIdExtensionString, GrainIdN0, GrainIdN1, GrainTypeString, convert_from(PayloadBinary, 'UTF8')::jsonb ->> 'Value' " +
            "FROM OrleansStorage WHERE ServiceId = @p0 ORDER BY GrainIdExtensionString NULLS LAST", serviceId);
        Assert.Equal(2, rows.Count);
        Assert.Equal(new object[] { key, 0L, 0L, "counter", "12" }, rows[0]);
        var guidBytes = guid.ToByteArray();
        Assert.Equal(new object[] { DBNull.Value, BitConverter.ToInt64(guidBytes, 0), BitConverter.ToInt64(guidBytes, 8), "counter", "12" }, rows[1]);
        Assert.Equal("bytea", await Scalar<string>(cs, "SELECT pg_typeof(PayloadBinary)::text FROM OrleansStorage LIMIT 1"));

        // Clear: the row stays with a NULL payload and a new version; the next activation starts from default.
        await byString.Clear();
        Assert.Equal(0, await byString.Get());
        Assert.True(await Scalar<bool>(cs, "SELECT PayloadBinary IS NULL FROM OrleansStorage WHERE ServiceId = @p0 AND GrainIdExtensionString = @p1", serviceId, key));
        var cleared = await byString.Activation();
        await byString.Deactivate();
        await Eventually(async () => await byString.Activation() != cleared, "a new activation");
        Assert.Equal(0, await byString.Get());
        Assert.False(await byString.RecordExists());
        Assert.Equal(3, await byString.Add(3, "after clear")); // writes on the cleared row's ETag
        Assert.Equal(12, await byGuid.Get()); // the other grain is untouched

        // DeleteStateOnClear = true (DeleteStorageKey): the row goes, and the grain can write again.
        var deleting = silo.Grains.GetGrain<IPgDeletingCounterGrain>("sweep-1/coordinator");
        Assert.Equal(4, await deleting.Add(4, "x"));
        Assert.Equal(1L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansStorage WHERE ServiceId = @p0 AND GrainTypeString = 'deleting'", serviceId));
        await deleting.Clear();
        Assert.Equal(0L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansStorage WHERE ServiceId = @p0 AND GrainTypeString = 'deleting'", serviceId));
        Assert.Equal(2, await deleting.Add(2, "y"));
        Assert.Equal(1L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansStorage WHERE ServiceId = @p0 AND GrainTypeString = 'deleting'", serviceId));
    }

    [Fact]
    public async Task Grain_storage_refuses_stale_writes_with_InconsistentStateException()
    {
        string cs = await NewSchemaDatabaseAsync();
        string serviceId = NewId("service");
        await using var silo = await TestSilo.StartAsync(cs, NewId("cluster"), serviceId);
        var storage = silo.Services.GetRequiredKeyedService<IGrainStorage>(Storage);
        var grainId = GrainId.Create("pgtest", "sweep-2/trainer/1.res");

        // First-ever write with an ETag that no row has: refused.
        var invented = new GrainState<CounterState>(new CounterState { Value = 1 }, "12345");
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("counter", grainId, invented));
        Assert.Equal(0L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansStorage WHERE ServiceId = @p0", serviceId));

        var seed = new GrainState<CounterState>(new CounterState { Value = 1 });
        await storage.WriteStateAsync("counter", grainId, seed);
        Assert.True(seed.RecordExists);
        Assert.False(string.IsNullOrEmpty(seed.ETag));

        // Two readers of the same version: the first write wins, the second is stale.
        var one = new GrainState<CounterState>();
        var two = new GrainState<CounterState>();
        await storage.ReadStateAsync("counter", grainId, one);
        await storage.ReadStateAsync("counter", grainId, two);
        Assert.Equal(seed.ETag, one.ETag);
        Assert.Equal(1, two.State!.Value);
        one.State!.Value = 2;
        await storage.WriteStateAsync("counter", grainId, one);
        Assert.NotEqual(seed.ETag, one.ETag);
        two.State.Value = 3;
        var stale = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("counter", grainId, two));
        Assert.Contains("Version conflict (WriteState)", stale.Message);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("counter", grainId, two));
        // A NULL ETag means "no row yet": refused too, as the row exists.
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("counter", grainId, new GrainState<CounterState>(new CounterState { Value = 9 })));
        var check = new GrainState<CounterState>();
        await storage.ReadStateAsync("counter", grainId, check);
        Assert.Equal((2, one.ETag), (check.State!.Value, check.ETag));

        // Concurrent first writes of new rows: exactly one winner each time, the loser gets the exception.
        for (int i = 0; i < 8; i++)
        {
            var id = GrainId.Create("pgtest", $"race-{i}");
            var writes = Enumerable.Range(0, 2).Select(n => Task.Run(async () =>
            {
                try { await storage.WriteStateAsync("counter", id, new GrainState<CounterState>(new CounterState { Value = 100 + n })); return true; }
                catch (InconsistentStateException) { return false; }
            })).ToArray();
            Assert.Single(await Task.WhenAll(writes), won => won);
            Assert.Equal(1L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansStorage WHERE ServiceId = @p0 AND GrainIdExtensionString = @p1", serviceId, $"race-{i}"));
        }

        // What the provider keys rows by (pinned so that a provider change that would orphan state is seen):
        // the key and the STATE NAME, not the grain type; and a string key that parses as hex is an integer key.
        var typeA = GrainId.Create("pgtype-a", "shared-key");
        var typeB = GrainId.Create("pgtype-b", "shared-key");
        await storage.WriteStateAsync("same-name", typeA, new GrainState<CounterState>(new CounterState { Value = 41 }));
        var seenByB = new GrainState<CounterState>();
        await storage.ReadStateAsync("same-name", typeB, seenByB);
        Assert.Equal(41, seenByB.State!.Value);
        var otherName = new GrainState<CounterState>();
        await storage.ReadStateAsync("other-name", typeB, otherName);
        Assert.False(otherName.RecordExists);
        await storage.WriteStateAsync("hex", GrainId.Create("pgtest", "cafe"), new GrainState<CounterState>(new CounterState { Value = 7 }));
        var upper = new GrainState<CounterState>();
        await storage.ReadStateAsync("hex", GrainId.Create("pgtest", "00CAFE"), upper);
        Assert.Equal(7, upper.State!.Value);
        Assert.Equal(new object[] { DBNull.Value, 0L, 0xcafeL }, (await Rows(cs,
            "SELECT GrainIdExtensionString, GrainIdN0, GrainIdN1 FROM OrleansStorage WHERE ServiceId = @p0 AND GrainTypeString = 'hex'", serviceId)).Single());
    }

    // ---------------------------------------------------------------------------------------------
    // Reminders
    // ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Reminders_fire_on_a_split_ring_are_listed_survive_a_restart_and_unregister()
    {
        string cs = await NewSchemaDatabaseAsync();
        string clusterId = NewId("cluster"), serviceId = NewId("service");
        string[] keys = Enumerable.Range(0, 16).Select(i => $"sweep-3/trainer/{i}.res").ToArray();

        await using (var a = await TestSilo.StartAsync(cs, clusterId, serviceId))
        await using (var b = await TestSilo.StartAsync(cs, clusterId, serviceId))
        {
            await Eventually(() => a.SeesActive(a, b) && b.SeesActive(a, b), "both silos Active in both views");
            // The ring is split: each silo's reminder service owns (and so reads and fires) some of them.
            await Eventually(() => keys.Select(k => a.RingOwnerOf(GrainId.Create("pgreminder", k).GetUniformHashCode())).Distinct().Count() == 2,
                "the reminders' hashes owned by both silos");
            foreach (var key in keys)
                await a.Grains.GetGrain<IPgReminderGrain>(key).Start("tick", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            await Eventually(() => keys.All(k => PgReminderGrain.TicksOf(serviceId, k) >= 2), "every reminder fired twice with the ring split over two silos");

            foreach (var key in keys)
                Assert.Equal(new[] { "tick" }, await b.Grains.GetGrain<IPgReminderGrain>(key).List());
            Assert.Equal(keys.Length, await Scalar<long>(cs, "SELECT count(*) FROM OrleansRemindersTable WHERE ServiceId = @p0", serviceId));
            Assert.Equal(1000L, await Scalar<long>(cs, "SELECT DISTINCT Period FROM OrleansRemindersTable WHERE ServiceId = @p0", serviceId));

            // The range queries against the ring arithmetic, over the actual hashes: (begin, end] on the uint
            // ring, whichever of Rows1/Rows2 the provider picks (it decides in signed order).
            var reminders = a.Services.GetRequiredService<IReminderTable>();
            var all = (await reminders.ReadRows(0u, 0u)).Reminders;
            Assert.Equal(keys.Order(), all.Select(r => r.GrainId.Key.ToString()!).Order());
            uint[] hashes = all.Select(r => r.GrainId.GetUniformHashCode()).Order().ToArray();
            var bounds = new List<uint> { 0u, 1u, 0x7FFF_FFFFu, 0x8000_0000u, 0xFFFF_FFFFu };
            bounds.AddRange(hashes);
            bounds.AddRange(hashes.Take(4).Select(h => h - 1));
            foreach (var begin in bounds)
            foreach (var end in bounds)
            {
                var expected = all.Where(r => InRing(r.GrainId.GetUniformHashCode(), begin, end)).Select(r => r.GrainId).Order();
                var actual = (await reminders.ReadRows(begin, end)).Reminders.Select(r => r.GrainId).Order();
                Assert.True(expected.SequenceEqual(actual), $"ReadRows({begin:X8}, {end:X8})");
            }

            await Task.WhenAll(a.StopAsync(), b.StopAsync());
        }

        // Restart: a new silo on the same database and ServiceId picks every reminder up.
        PgReminderGrain.Reset(serviceId);
        await using var c = await TestSilo.StartAsync(cs, clusterId, serviceId);
        await Eventually(() => keys.All(k => PgReminderGrain.TicksOf(serviceId, k) >= 1), "every reminder fired again after the restart");
        var entry = await c.Services.GetRequiredService<IReminderTable>().ReadRow(GrainId.Create("pgreminder", keys[0]), "tick");
        Assert.NotNull(entry);
        Assert.Equal(TimeSpan.FromSeconds(1), entry.Period);

        foreach (var key in keys)
        {
            var grain = c.Grains.GetGrain<IPgReminderGrain>(key);
            await grain.Stop("tick");
            Assert.Empty(await grain.List());
        }
        Assert.Equal(0L, await Scalar<long>(cs, "SELECT count(*) FROM OrleansRemindersTable WHERE ServiceId = @p0", serviceId));
    }

    static bool InRing(uint hash, uint begin, uint end) =>
        begin < end ? hash > begin && hash <= end : hash > begin || hash <= end;

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// <summary>
    /// A fresh database with our schema. Its sessions run in a non-UTC time zone (+05:30), so a DateTime the
    /// providers bind that PostgreSQL took for local time would come back shifted and fail the tests.
    /// </summary>
    async Task<string> NewSchemaDatabaseAsync()
    {
        string cs = await server.NewDatabaseAsync() + ";Timezone=Asia/Kolkata";
        await OrleansPostgresSchema.ApplyAsync(cs);
        return cs;
    }

    static string NewId(string what) => $"{what}-{Guid.NewGuid():N}"[..(what.Length + 13)];

    static MembershipEntry Entry(int port, int generation, SiloStatus status, DateTime start) => new()
    {
        SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), generation),
        SiloName = $"silo-{port}",
        HostName = "test-host",
        Status = status,
        ProxyPort = port + 10000,
        StartTime = start,
        IAmAliveTime = start,
    };

    static AdoNetClusteringTable NewMembershipTable(string cs, string clusterId) => new(
        new ServiceCollection().BuildServiceProvider(),
        Options.Create(new ClusterOptions { ClusterId = clusterId, ServiceId = "unused" }),
        Options.Create(new AdoNetClusteringSiloOptions { Invariant = "Npgsql", ConnectionString = cs }),
        NullLogger<AdoNetClusteringTable>.Instance);

    static AdoNetGatewayListProvider NewGatewayListProvider(string cs, string clusterId) => new(
        NullLogger<AdoNetGatewayListProvider>.Instance,
        new ServiceCollection().BuildServiceProvider(),
        Options.Create(new AdoNetClusteringClientOptions { Invariant = "Npgsql", ConnectionString = cs }),
        Options.Create(new GatewayOptions()),
        Options.Create(new ClusterOptions { ClusterId = clusterId, ServiceId = "unused" }));

    static async Task Eventually(Func<bool> condition, string what, int seconds = 45) =>
        await Eventually(() => Task.FromResult(condition()), what, seconds);

    static async Task Eventually(Func<Task<bool>> condition, string what, int seconds = 45)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out after {seconds} s waiting for: {what}");
            await Task.Delay(100);
        }
    }

    static NpgsqlCommand Command(NpgsqlConnection c, string sql, object[] args)
    {
        var cmd = new NpgsqlCommand(sql, c);
        for (int i = 0; i < args.Length; i++) cmd.Parameters.AddWithValue($"p{i}", args[i]);
        return cmd;
    }

    static async Task Exec(string cs, string sql, params object[] args)
    {
        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        await using var cmd = Command(c, sql, args);
        await cmd.ExecuteNonQueryAsync();
    }

    static async Task<T> Scalar<T>(string cs, string sql, params object[] args)
    {
        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        await using var cmd = Command(c, sql, args);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    static async Task<List<object[]>> Rows(string cs, string sql, params object[] args)
    {
        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        await using var cmd = Command(c, sql, args);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<object[]>();
        while (await r.ReadAsync())
        {
            var row = new object[r.FieldCount];
            r.GetValues(row);
            rows.Add(row);
        }
        return rows;
    }

    static async Task<string[]> Strings(string cs, string sql, params object[] args) =>
        (await Rows(cs, sql, args)).Select(r => (string)r[0]).ToArray();

    static async Task<int[]> Ints(string cs, string sql, params object[] args) =>
        (await Rows(cs, sql, args)).Select(r => (int)r[0]).ToArray();

    /// <summary>One in-process silo on loopback (free ports) with our schema's three providers.</summary>
    sealed class TestSilo : IAsyncDisposable
    {
        readonly IHost _host;
        bool _stopped;
        TestSilo(IHost host, int gatewayPort) { _host = host; GatewayPort = gatewayPort; }

        public IServiceProvider Services => _host.Services;
        public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();
        public SiloAddress Address => Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
        public int GatewayPort { get; }

        public static async Task<TestSilo> StartAsync(string cs, string clusterId, string serviceId)
        {
            int siloPort = LoopbackPorts.Free(), gatewayPort = LoopbackPorts.Free();
            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.UseOrleans(silo =>
            {
                silo.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = serviceId; });
                silo.ConfigureEndpoints(IPAddress.Loopback, siloPort, gatewayPort, listenOnAnyHostAddress: false);
                silo.UseAdoNetClustering(o => { o.Invariant = "Npgsql"; o.ConnectionString = cs; });
                silo.AddAdoNetGrainStorage(Storage, o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = cs;
                    o.GrainStorageSerializer = new Utf8JsonGrainStorageSerializer();
                });
                silo.AddAdoNetGrainStorage(DeletingStorage, o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = cs;
                    o.GrainStorageSerializer = new Utf8JsonGrainStorageSerializer();
                    o.DeleteStateOnClear = true;
                });
                silo.UseAdoNetReminderService(o => { o.Invariant = "Npgsql"; o.ConnectionString = cs; });
                silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
                silo.Configure<ClusterMembershipOptions>(o =>
                {
                    // Modest: the suite runs on a loaded 2-core machine. Refresh the table often so the views
                    // converge without waiting on the default minute.
                    o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                    o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                    o.ProbeTimeout = TimeSpan.FromSeconds(5);
                });
            });
            var host = builder.Build();
            try { await host.StartAsync(); }
            catch { host.Dispose(); throw; }
            return new TestSilo(host, gatewayPort);
        }

        public SiloStatus StatusOf(SiloAddress silo) =>
            Services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.GetSiloStatus(silo);

        /// <summary>The silo that owns <paramref name="hash"/> on the ring (Orleans' ring provider is internal).</summary>
        public SiloAddress RingOwnerOf(uint hash)
        {
            var type = typeof(IClusterMembershipService).Assembly.GetType("Orleans.Runtime.ConsistentRing.IConsistentRingProvider", throwOnError: true)!;
            return (SiloAddress)type.GetMethod("GetPrimaryTargetSilo")!.Invoke(Services.GetRequiredService(type), [hash])!;
        }

        public bool SeesActive(params TestSilo[] silos) => silos.All(s => StatusOf(s.Address) == SiloStatus.Active);

        public async Task StopAsync()
        {
            if (_stopped) return;
            _stopped = true;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _host.StopAsync(cts.Token);
        }

        public async ValueTask DisposeAsync()
        {
            try { await StopAsync(); }
            catch (Exception) { } // a test failing mid-way must not hide its own error behind the shutdown's
            _host.Dispose();
        }
    }

    sealed class TestClient : IAsyncDisposable
    {
        readonly IHost _host;
        TestClient(IHost host) => _host = host;
        public IServiceProvider Services => _host.Services;
        public IClusterClient Grains => Services.GetRequiredService<IClusterClient>();

        public static async Task<TestClient> StartAsync(string cs, string clusterId, string serviceId)
        {
            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = serviceId; });
                client.UseAdoNetClustering(o => { o.Invariant = "Npgsql"; o.ConnectionString = cs; });
            });
            var host = builder.Build();
            try { await host.StartAsync(); }
            catch { host.Dispose(); throw; }
            return new TestClient(host);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _host.StopAsync(cts.Token);
            }
            catch (Exception) { }
            _host.Dispose();
        }
    }
}

/// <summary>State as System.Text.Json UTF-8, the way SaeCluster stores it (the provider puts it in PayloadBinary).</summary>
public sealed class Utf8JsonGrainStorageSerializer : IGrainStorageSerializer
{
    public BinaryData Serialize<T>(T? input) => new(JsonSerializer.SerializeToUtf8Bytes(input));
    public T Deserialize<T>(BinaryData input) => JsonSerializer.Deserialize<T>(input.ToMemory().Span)!;
}

public sealed class CounterState
{
    public int Value { get; set; }
    public string? Note { get; set; }
}

public interface IPgEchoGrain : IGrainWithStringKey
{
    Task<string> Echo(string text);
    Task<string> Silo();
}

public sealed class PgEchoGrain(ILocalSiloDetails silo) : Grain, IPgEchoGrain
{
    public Task<string> Echo(string text) => Task.FromResult($"{text} from {this.GetPrimaryKeyString()}");
    public Task<string> Silo() => Task.FromResult(silo.SiloAddress.ToString());
}

public interface IPgCounter : IGrain
{
    Task<int> Add(int delta, string note);
    Task<int> Get();
    Task<string?> Note();
    Task<bool> RecordExists();
    Task Clear();
    Task<Guid> Activation();
    Task Deactivate();
}

public interface IPgStringCounterGrain : IPgCounter, IGrainWithStringKey;
public interface IPgGuidCounterGrain : IPgCounter, IGrainWithGuidKey;
public interface IPgDeletingCounterGrain : IPgCounter, IGrainWithStringKey;

public abstract class PgCounterGrain(IPersistentState<CounterState> state) : Grain, IPgCounter
{
    readonly Guid _activation = Guid.NewGuid();

    public async Task<int> Add(int delta, string note)
    {
        state.State.Value += delta;
        state.State.Note = note;
        await state.WriteStateAsync();
        return state.State.Value;
    }

    public Task<int> Get() => Task.FromResult(state.State.Value);
    public Task<string?> Note() => Task.FromResult(state.State.Note);
    public Task<bool> RecordExists() => Task.FromResult(state.RecordExists);
    public Task Clear() => state.ClearStateAsync();
    public Task<Guid> Activation() => Task.FromResult(_activation);

    public Task Deactivate()
    {
        this.DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

public sealed class PgStringCounterGrain([PersistentState("counter", "pg")] IPersistentState<CounterState> state)
    : PgCounterGrain(state), IPgStringCounterGrain;

public sealed class PgGuidCounterGrain([PersistentState("counter", "pg")] IPersistentState<CounterState> state)
    : PgCounterGrain(state), IPgGuidCounterGrain;

public sealed class PgDeletingCounterGrain([PersistentState("deleting", "pg-delete")] IPersistentState<CounterState> state)
    : PgCounterGrain(state), IPgDeletingCounterGrain;

public interface IPgReminderGrain : IGrainWithStringKey
{
    Task Start(string name, TimeSpan due, TimeSpan period);
    Task<string[]> List();
    Task Stop(string name);
}

[GrainType("pgreminder")]
public sealed class PgReminderGrain(IOptions<ClusterOptions> cluster) : Grain, IPgReminderGrain, IRemindable
{
    static readonly ConcurrentDictionary<string, int> Ticks = new();

    public static int TicksOf(string serviceId, string key) => Ticks.GetValueOrDefault($"{serviceId}|{key}");

    public static void Reset(string serviceId)
    {
        foreach (var k in Ticks.Keys.Where(k => k.StartsWith(serviceId + "|", StringComparison.Ordinal))) Ticks.TryRemove(k, out _);
    }

    public async Task Start(string name, TimeSpan due, TimeSpan period) => await this.RegisterOrUpdateReminder(name, due, period);

    public async Task<string[]> List() => (await this.GetReminders()).Select(r => r.ReminderName).ToArray();

    public async Task Stop(string name)
    {
        var reminder = await this.GetReminder(name);
        if (reminder is not null) await this.UnregisterReminder(reminder);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        Ticks.AddOrUpdate($"{cluster.Value.ServiceId}|{this.GetPrimaryKeyString()}", 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}
