using System.Runtime.CompilerServices;

namespace SaeCluster.Grains.Tests;

/// <summary>Small sweeps over the repository's trained tiny Gemma 2 for the runtime tests, and an embedded cluster to run them on.</summary>
public static class TinySweep
{
    static string Here([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    public static string RepositoryRoot => Path.GetFullPath(Path.Combine(Here(), "..", ".."));
    public static string Model => Path.Combine(RepositoryRoot, "models", "tiny-gemma2-code");

    /// <summary>2 sites × 2 SAEs, 12 shards of 16 contexts (64 tokens) made by 3 producers; checkpoints every 2 steps.</summary>
    public static string Yaml(string name, long tokens = 16_384, string kinds = "[res]", string layers = "[0, 1]", int checkpointEvery = 2, bool keepShards = true,
        string formats = "[saelens]") => $"""
        name: {name}
        model: {Model}
        corpus:
          paths: ["/usr/lib/python3*/json/*.py", "/usr/lib/python3*/email/*.py"]
        context: 64
        tokens: {tokens}
        eval_tokens: 2048
        sites:
          layers: {layers}
          kinds: {kinds}
        saes:
          - arch: topk
            width: 64
            k: [4, 8]
        training:
          batch: 512
          checkpoint_every: {checkpointEvery}
          log_every: 1
          dead_tokens: 4096
        storage:
          contexts_per_shard: 16
          shards_per_producer: 4
          keep_shards: {(keepShards ? "true" : "false")}
          formats: {formats}
        """;

    public static SweepSpec Spec(string yaml) => SweepSpec.Parse(yaml, RepositoryRoot, "test.yaml");
}

/// <summary>
/// An embedded cluster in a temp folder: an Orleans silo in this process (grain state in the folder, a local
/// blob store), started and stopped by the test; a stopped silo's successor on the same folder resumes.
/// </summary>
public sealed class EmbeddedCluster : IAsyncDisposable
{
    readonly TempDir _dir = new();
    EmbeddedSilo? _silo;
    public LocalBlobStore Blobs { get; }
    public List<string> Log { get; } = [];

    public EmbeddedCluster()
    {
        Blobs = new LocalBlobStore(_dir["blobs"]);
        Blobs.InitializeAsync().GetAwaiter().GetResult();
    }

    public string BlobPath(string name) => Path.Combine(_dir["blobs"], name);

    public string Folder => _dir["cluster"];

    public EmbeddedSilo Silo => _silo ?? throw new InvalidOperationException("no silo runs");

    public SweepService Sweeps => Silo.Sweeps;

    /// <summary>Starts a silo (stopping none: one runs at a time on the folder).</summary>
    public async Task<EmbeddedSilo> StartAsync(string name = "s1", string slots = "producer=1,trainer=2", string roles = "")
    {
        if (_silo != null) throw new InvalidOperationException("a silo already runs");
        var work = new WorkOptions
        {
            Slots = WorkOptions.ParseSlots(slots),
            WorkDirectory = _dir[Path.Combine("work", name)],
            RetryPause = TimeSpan.FromMilliseconds(200),
            Grace = TimeSpan.FromSeconds(30),
        };
        _silo = await EmbeddedSilo.StartAsync(Folder, Blobs, work, line => { lock (Log) Log.Add($"{name} {line}"); },
            new SweepOptions { Tick = TimeSpan.FromMilliseconds(200) }, name, SiloRoles.Parse(roles));
        return _silo;
    }

    /// <summary>Stops the running silo gracefully (its work checkpoints and hands back).</summary>
    public async Task StopAsync()
    {
        if (_silo == null) return;
        await _silo.DisposeAsync();
        _silo = null;
    }

    /// <summary>Polls the sweep until <paramref name="until"/> holds (default: it ended) or the timeout passes.</summary>
    public async Task<SweepStatus> WaitAsync(string id, Func<SweepStatus, bool>? until = null, double timeoutSeconds = 120)
    {
        until ??= s => s.IsTerminal;
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            var s = await Sweeps.GetAsync(id) ?? throw new InvalidOperationException($"no sweep {id}");
            if (until(s)) return s;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"sweep {id} did not get there in {timeoutSeconds} s: {System.Text.Json.JsonSerializer.Serialize(s)}\n{string.Join('\n', Lines)}");
            await Task.Delay(50);
        }
    }

    public string[] Lines { get { lock (Log) return [.. Log]; } }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _dir.Dispose();
    }
}
