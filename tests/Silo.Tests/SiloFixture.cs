using System.Net.Http.Json;
using System.Text.Json;
using SaeCluster.Grains;

namespace SaeCluster.Silo.Tests;

/// <summary>One silo process for the API and saectl tests: a single-silo cluster in a temp folder, a temp blob folder, a token.</summary>
public sealed class SiloFixture : IAsyncLifetime
{
    public const string Token = "test-token-6f1c";

    public TempDir Dir { get; } = new();
    public SiloProcess Silo { get; private set; } = null!;
    public string Blobs => Dir["blobs"];
    public string Url => Silo.Url;

    public async Task InitializeAsync()
    {
        Silo = await SiloProcess.StartAsync(Dir.Path, Token,
            "--cluster", Dir["cluster"], "--blobs", Blobs, "--id", "test-silo",
            "--work-dir", Dir["work"], "--data-root", SiloProcess.RepositoryRoot, "--grace-seconds", "20");
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Dir.Dispose();
    }

    /// <summary>Polls GET /api/sweeps/{id} until the sweep ends.</summary>
    public async Task<SweepStatus> WaitUntilEndedAsync(string id, TimeSpan timeout)
    {
        using var http = Silo.Http();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var s = await http.GetFromJsonAsync<SweepStatus>($"/api/sweeps/{id}", SweepJson.Options);
            Assert.NotNull(s);
            if (s.IsTerminal) return s;
            if (DateTime.UtcNow > deadline) Assert.Fail($"sweep {id} still {s.State} after {timeout.TotalSeconds} s\n{JsonSerializer.Serialize(s, SweepJson.Options)}\n{Silo.Log}");
            await Task.Delay(250);
        }
    }
}

/// <summary>
/// Every test class that starts silo processes (this fixture's or its own) is in this one collection, so
/// they run one at a time: on two cores, clusters in parallel would starve each other's membership probes.
/// </summary>
[CollectionDefinition("silo")]
public sealed class SiloCollection : ICollectionFixture<SiloFixture>;

/// <summary>Sweep YAML for the tests: the repository's tiny trained Gemma 2 on Python's json package.</summary>
public static class Sweeps
{
    /// <summary>
    /// Two res sites, one TopK SAE each. The model path is relative: the silo resolves it against its
    /// --data-root (the repository).
    /// </summary>
    public static string Tiny(string name, long tokens = 8192, string layers = "[0, 1]") => $"""
        name: {name}
        model: models/tiny-gemma2-code
        corpus:
          paths: ["/usr/lib/python3*/json/*.py"]
        context: 64
        tokens: {tokens}
        eval_tokens: 2048
        sites:
          layers: {layers}
          kinds: [res]
        saes:
          - arch: topk
            width: 64
            k: 4
        training:
          batch: 1024
          checkpoint_every: 2
        storage:
          contexts_per_shard: 16
          shards_per_producer: 4
        """;
}

