using System.Diagnostics.Metrics;
using System.Reflection;

namespace SaeCluster.Grains;

/// <summary>
/// The instruments SaeCluster records into (meter <c>SaeCluster</c>; GEMM throughput is meter
/// <c>SaeCluster.Compute</c>). Labels are bounded: silo, actor kind, sweep, layer, site, SAE name, and small
/// enumerations (outcome, error kind, operation, phase, state) — never tokens or free text.
/// Live values (trainers, sweeps, silos) are registered in the registries below and read at scrape time.
/// </summary>
public static class SaeClusterMetrics
{
    public const string MeterName = "SaeCluster";

    /// <summary>How long a finished trainer's or sweep's final values stay in /metrics.</summary>
    public static TimeSpan Linger { get; set; } = TimeSpan.FromMinutes(10);

    static readonly string Version = typeof(SaeClusterMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";
    static readonly Meter Meter = new(MeterName, Version);

    public static readonly LiveRegistry<SiloWork> Silos = new();
    public static readonly LiveRegistry<TrainerTelemetry> Trainers = new();
    public static readonly LiveRegistry<SweepTelemetry> Sweeps = new();
    public static readonly LiveRegistry<EvaluationTelemetry> Evaluations = new();

    static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    static readonly double[] ShardBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    // silo
    public static readonly Counter<long> LeasesLost = Meter.CreateCounter<long>("saecluster.silo.leases.lost", "{lease}",
        "Activations on this silo that lost their work: a newer activation (elsewhere, after a membership change) wrote its state, so this one was fenced");
    public static readonly Counter<long> Activations = Meter.CreateCounter<long>("saecluster.silo.activations", "{activation}",
        "Work ended on this silo, by kind and outcome (done, failed, cancelled, lost, shutdown)");
    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("saecluster.errors", "{error}",
        "Errors by where (producer, trainer, sweep) and kind (store, blob, network, io, input, diverged, other)");
    public static readonly Histogram<double> LeaseOperations = Meter.CreateHistogram("saecluster.lease.operation.duration", "s",
        "Grain state writes of producers and trainers, by operation: claim (a new activation bumps the epoch) and commit (checkpoints, shards, results); ETag-checked", null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    // blob storage
    public static readonly Counter<long> BlobRead = Meter.CreateCounter<long>("saecluster.blob.read", "By", "Bytes read from blob storage (shards a local folder store serves in place count once per open)");
    public static readonly Counter<long> BlobWritten = Meter.CreateCounter<long>("saecluster.blob.written", "By", "Bytes written to blob storage");
    public static readonly Histogram<double> BlobOperations = Meter.CreateHistogram("saecluster.blob.operation.duration", "s",
        "Blob storage calls by operation (put, create, read, download, list, delete) and outcome (ok, error)", null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    // producers
    public static readonly Counter<long> ProducedTokens = Meter.CreateCounter<long>("saecluster.producer.tokens", "{token}",
        "Tokens whose activations producers wrote (once per token, whatever the number of sites)");
    public static readonly Counter<long> ProducedShards = Meter.CreateCounter<long>("saecluster.producer.shards", "{shard}", "Shards producers committed");
    public static readonly Histogram<double> ShardWrites = Meter.CreateHistogram("saecluster.producer.shard.write.duration", "s",
        "Time to write one shard of one site: serialise, hash and upload", null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = ShardBuckets });

    static SaeClusterMetrics()
    {
        ProcessMetrics();
        Meter.CreateObservableGauge("saecluster.silo.info", () => Silos.Items.Select(s => new Measurement<int>(1,
            new("silo", s.SiloName), new("version", Version), new("gemm_backend", Compute.Gemm.Backend))), "{silo}", "Silos of this process (always 1), with version and GEMM backend");
        Meter.CreateObservableGauge("saecluster.silo.slots", () => Silos.Items.SelectMany(s => s.Options.Slots.Select(kv =>
            new Measurement<int>(kv.Value, new("silo", s.SiloName), new("kind", kv.Key)))), "{slot}", "Work slots per kind (producer, trainer): how many run at once on this silo");
        Meter.CreateObservableGauge("saecluster.silo.slots.used", () => Silos.Items.SelectMany(s =>
            s.Options.Slots.Keys.Select(kind => new Measurement<int>(s.Running(kind), new("silo", s.SiloName), new("kind", kind)))), "{slot}", "Work slots in use per kind");
        Meter.CreateObservableGauge("saecluster.silo.leases.held", () => Silos.Items.Select(s =>
            new Measurement<int>(s.Activations.Count, new KeyValuePair<string, object?>("silo", s.SiloName))), "{lease}",
            "Producer and trainer activations on this silo holding their work's epoch (running or queued for a slot)");

        Meter.CreateObservableGauge("saecluster.trainer.step", () => Trainers.Items.Select(t => new Measurement<long>(Volatile.Read(ref t.Step), TrainerTags(t))),
            "{step}", "Training step each trainer is at");
        Meter.CreateObservableCounter("saecluster.trainer.tokens", () => Trainers.Items.Select(t => new Measurement<long>(Volatile.Read(ref t.Tokens), TrainerTags(t))),
            "{token}", "Tokens each trainer has trained on (every SAE of the site sees each)");
        Meter.CreateObservableGauge("saecluster.trainer.phase", () => Trainers.Items.Select(t => new Measurement<int>(1, [.. TrainerTags(t), new("phase", t.Phase)])),
            "", "Each trainer's phase (starting, waiting, training, evaluating, writing, done, failed) as a 1-valued series");

        Meter.CreateObservableCounter("saecluster.sae.tokens", () => Trainers.Items.SelectMany(t => t.Saes.Select(s =>
            new Measurement<long>(Volatile.Read(ref t.Tokens), SaeTags(t, s)))), "{token}", "Tokens each SAE has trained on");
        Meter.CreateObservableGauge("saecluster.sae.l0", () => Sae(s => s.L0), "{latent}", "Active latents per token at the latest step");
        Meter.CreateObservableGauge("saecluster.sae.fvu.ratio", () => Sae(s => s.Fvu), "1", "Fraction of variance unexplained at the latest step");
        Meter.CreateObservableGauge("saecluster.sae.dead_latents.ratio", () => Sae(s => s.DeadFraction), "1", "Fraction of latents that have not fired within the dead-latent window");
        Meter.CreateObservableGauge("saecluster.sae.loss", () => Sae(s => s.Loss), "", "Training loss at the latest step (NaN when training diverged)");
        Meter.CreateObservableGauge("saecluster.sae.learning_rate", () => Sae(s => s.LearningRate), "", "Learning rate at the latest step");

        Meter.CreateObservableGauge("saecluster.sae.delta_loss", () => Evaluated(r => r.DeltaLoss), "",
            "Increase of the next-token cross-entropy (nats) when the SAE's reconstruction is spliced in at its site, on held-out text");
        Meter.CreateObservableGauge("saecluster.sae.ce_loss_score", () => Evaluated(r => r.CeLossScore), "",
            "Fraction of the loss recovered against zero-ablating the site: (CE_zero − CE_sae) / (CE_zero − CE_clean)");
        Meter.CreateObservableGauge("saecluster.sae.kl", () => Evaluated(r => r.Kl), "", "KL(clean ‖ spliced) per token, nats");

        Meter.CreateObservableGauge("saecluster.sweep.progress.ratio", () => Sweeps.Items.Select(s => new Measurement<double>(s.Progress, new KeyValuePair<string, object?>("sweep", s.Sweep))),
            "1", "Tokens trained over tokens to train, across a sweep's trainers (reported by the silo running its coordinator)");
        Meter.CreateObservableGauge("saecluster.sweep.state", () => Sweeps.Items.Select(s => new Measurement<int>(1, new("sweep", s.Sweep), new("state", s.State))),
            "", "Each sweep's state (running, done, failed, cancelled) as a 1-valued series");
        Meter.CreateObservableGauge("saecluster.sweep.actors", () => Sweeps.Items.SelectMany(s => s.Actors.Select(kv =>
            new Measurement<int>(kv.Value, new("sweep", s.Sweep), new("kind", kv.Key.Kind), new("state", kv.Key.State)))), "{actor}", "A sweep's actors by kind and state");
    }

    // The process metrics every Prometheus client library exports, under their usual names, and the GC's.
    static void ProcessMetrics()
    {
        var start = new DateTimeOffset(System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0;
        Meter.CreateObservableCounter("process.cpu", () => Environment.CpuUsage.TotalTime.TotalSeconds, "s", "User and system CPU time of this process");
        Meter.CreateObservableGauge("process.resident_memory", () => Environment.WorkingSet, "By", "Resident memory of this process");
        Meter.CreateObservableGauge("process.start_time", () => start, "s", "When this process started, in seconds since the Unix epoch");
        Meter.CreateObservableGauge("dotnet.gc.heap", () => GC.GetTotalMemory(false), "By", "Bytes allocated on the managed heap and not yet collected");
        Meter.CreateObservableCounter("dotnet.gc.collections", () => Enumerable.Range(0, GC.MaxGeneration + 1).Select(g =>
            new Measurement<long>(GC.CollectionCount(g), new KeyValuePair<string, object?>("generation", $"gen{g}"))), "{collection}", "Garbage collections by generation");
        Meter.CreateObservableCounter("dotnet.gc.allocated", () => GC.GetTotalAllocatedBytes(), "By", "Bytes allocated on the managed heap since the process started");
        Meter.CreateObservableGauge("dotnet.threadpool.threads", () => ThreadPool.ThreadCount, "{thread}", "Thread-pool threads");
    }

    /// <summary>Where sweeps' own errors (a tick that could not reach the store) are counted, besides the work kinds.</summary>
    public const string SweepErrors = "sweep";

    /// <summary>
    /// Starts the error counters of a silo at zero for every (where, error) pair, so that increase() and
    /// the alerts see the first error of a kind (a counter that appears at 1 has no increase).
    /// </summary>
    public static void StartErrorCounters(IEnumerable<string> kinds)
    {
        foreach (string where in kinds.Append(SweepErrors))
            foreach (string error in ErrorKinds.All)
                Errors.Add(0, new KeyValuePair<string, object?>("where", where), new KeyValuePair<string, object?>("error", error));
    }

    static KeyValuePair<string, object?>[] TrainerTags(TrainerTelemetry t) => [new("sweep", t.Sweep), new("layer", t.Layer), new("site", t.Site)];

    static KeyValuePair<string, object?>[] SaeTags(TrainerTelemetry t, SaeTelemetry s) => [.. TrainerTags(t), new("sae", s.Name)];

    static IEnumerable<Measurement<double>> Evaluated(Func<SaeModelEval, double> value) =>
        Evaluations.Items.SelectMany(e => e.Results.Select(r => new Measurement<double>(value(r),
            [new("sweep", e.Sweep), new("layer", e.Layer), new("site", e.Site), new("sae", r.Name)])));

    static IEnumerable<Measurement<double>> Sae(Func<SaeTelemetry, double> value) =>
        Trainers.Items.SelectMany(t => t.Saes.Select(s => new Measurement<double>(value(s), SaeTags(t, s))));
}
