using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using SaeCluster.Models;
using SaeCluster.Sae;

namespace SaeCluster.Grains;

/// <summary>
/// Produces shards [first, first + count) of a sweep (first = index × shards_per_producer): runs the Gemma
/// model over their contexts and, per shard, writes one blob per site under a name that carries this
/// activation's epoch, then commits the shard's rows and SHA-256s in its ETag-checked state — the only way
/// a shard becomes part of the catalog trainers stream from. A re-activation skips the shards its state
/// lists; a stopped or superseded activation deletes what it uploaded but could not commit. When the corpus
/// ends inside the range it records where, and finishes.
/// </summary>
[RolePlacement(SiloRoles.Producer)]
[Orleans.Placement.RandomPlacement] // a sweep starts its work in a burst: spread it over the silos with the role (Orleans' default keeps a burst on the silo that makes it)
public sealed class ActivationProducerGrain(
    [PersistentState("producer", StorageNames.Default)] IPersistentState<ProducerState> stored,
    DeepCopier<ProducerState> copier, SiloWork silo, IBlobStore blobs, ILogger<ActivationProducerGrain> log)
    : WorkGrain<ProducerState, ProducerReport>(stored, copier, silo, blobs, log), IActivationProducerGrain
{
    /// <summary>Contexts per forward pass.</summary>
    const int RowsPerBatch = 4;

    int Index => SweepKeys.ProducerIndex(Key);

    protected override string Kind => SiloRoles.Producer;

    protected override ProducerReport BuildReport()
    {
        var s = State;
        return new ProducerReport(Index, s.Status, s.Epoch, s.Silo, s.Phase, s.Tokens, s.TokensPerSecond, s.End, s.Error, s.Shards);
    }

    protected override Task PublishAsync(ProducerReport report) => Grains.Sweep(Sweep).ReportProducerAsync(report);

    protected override async Task RunAsync(CancellationToken ct)
    {
        string yaml = await Grains.Sweep(Sweep).GetSpecAsync(ct) ?? throw new WorkFailedException($"sweep '{Sweep}' no longer exists");
        var spec = SweepSpecCache.Get(Sweep, yaml);
        int first = Index * spec.ShardsPerProducer, count = Math.Min(spec.ShardsPerProducer, spec.EstimatedShards - first);
        var committed = State.Shards.Select(s => s.Index).ToHashSet();
        if (count <= 0 || Enumerable.Range(first, count).All(committed.Contains))
        {
            await FinishAsync(State.End);
            return;
        }
        await CommitAsync(s => s.Phase = "loading");

        var sites = new SiteSelection(spec.Sites);
        var model = WorkInput.Load(() => GemmaModel.Load(spec.ModelDir, sites.DeepestLayer + 1), spec.ModelDir);
        model.Bf16Matmuls = spec.ModelPrecision.RunsBf16();
        if (spec.ModelPrecision == EncoderPrecision.Auto) Compute.Bf16Choice.ReportOnce(line => Log.LogInformation("{Precision}", line));
        string tokenizerPath = Path.Combine(spec.ModelDir, "tokenizer.json");
        var tokenizer = WorkInput.Load(() => GemmaTokenizer.Load(tokenizerPath), tokenizerPath);
        var corpus = CorpusDocuments.FromPatterns(spec.CorpusPaths, spec.TextField);
        var packer = new ContextPacker(spec.Context, spec.Model.BosId, spec.Model.EosId, spec.Model.PadId);
        var producer = new ActivationProducer(model, sites, RowsPerBatch, spec.ShardDtype, Path.GetFileName(spec.ModelDir), string.Join(", ", spec.CorpusPaths));
        using var contexts = packer.Pack(corpus.Read(ct).Select(d => d.Tokens ?? tokenizer.Encode(d.Text!, addSpecialTokens: false)))
            .Skip(first * spec.ContextsPerShard).GetEnumerator();
        await CommitAsync(s => s.Phase = "producing");

        var sw = Stopwatch.StartNew();
        long tokensHere = 0;
        int? end = null;
        var uploaded = new List<string>(); // blobs of the shard in hand: uploaded, not committed yet
        for (int shard = first; shard < first + count; shard++)
        {
            ct.ThrowIfCancellationRequested();
            var chunk = new List<int[]>();
            while (chunk.Count < spec.ContextsPerShard && contexts.MoveNext()) chunk.Add(contexts.Current);
            if (chunk.Count == 0) { end = shard; break; }
            if (!committed.Contains(shard))
            {
                try
                {
                    var record = await ProduceAsync(spec, producer, sites, chunk, packer, shard, uploaded, ct);
                    tokensHere += record.Rows;
                    double rate = Math.Round(tokensHere / Math.Max(1e-9, sw.Elapsed.TotalSeconds), 1);
                    await CommitAsync(s =>
                    {
                        s.Shards = [.. s.Shards, record];
                        s.Tokens += record.Rows;
                        s.TokensPerSecond = rate;
                    });
                    uploaded.Clear();
                    SaeClusterMetrics.ProducedTokens.Add(record.Rows, new KeyValuePair<string, object?>("sweep", Sweep));
                    SaeClusterMetrics.ProducedShards.Add(1, new KeyValuePair<string, object?>("sweep", Sweep));
                }
                finally { await DiscardAsync(uploaded); }
            }
            if (chunk.Count < spec.ContextsPerShard) { end = shard + 1; break; }
        }
        contexts.Dispose();
        ReleaseSlot();
        await FinishAsync(end);
        Log.LogInformation("{Key}: produced shards {First}–{Last}{End}: {Tokens:N0} tokens × {Sites} site(s)", Key, first, first + count - 1,
            end != null ? $" (the corpus ends at shard {end})" : "", tokensHere, sites.Pairs.Count);
    }

    Task FinishAsync(int? end) => CommitAsync(s =>
    {
        s.End = end ?? s.End;
        s.Status = WorkStatus.Done;
        s.Phase = "done";
        s.Finished = DateTimeOffset.UtcNow;
    });

    // Blobs uploaded for a shard this activation could not commit (stopped, superseded, failed): nothing will ever name them.
    async Task DiscardAsync(List<string> uploaded)
    {
        if (uploaded.Count == 0) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            foreach (string blob in uploaded) await Blobs.DeleteAsync(blob, timeout.Token);
            Log.LogInformation("{Key}: deleted {Count} shard blob(s) it uploaded but did not commit", Key, uploaded.Count);
        }
        catch (Exception e) when (e is OperationCanceledException || TransientErrors.Is(e)) { } // best effort: the sweep deletes uncommitted shards at its end
        uploaded.Clear();
    }


    // One shard: capture every site, write each site's blob (write-once, named for this epoch), return its record.
    async Task<ShardRecord> ProduceAsync(SweepSpec spec, ActivationProducer producer, SiteSelection sites, List<int[]> chunk, ContextPacker packer,
        int shard, List<string> uploaded, CancellationToken ct)
    {
        var captured = producer.Capture(chunk, packer, ct);
        var scales = captured.NormScales();
        var blobsBySite = new Dictionary<string, ShardBlob>();
        for (int i = 0; i < sites.Pairs.Count; i++)
        {
            var (layer, site) = sites.Pairs[i];
            string folder = SiteSelection.FolderName(layer, site);
            long start = Stopwatch.GetTimestamp();
            string blob = SweepKeys.ShardBlob(Sweep, folder, shard, Epoch);
            string tmp = Path.Combine(WorkDirectory, $"shard-{shard}-{i}.safetensors");
            producer.ShardWriter(captured, i, shard, scales[i]).Write(tmp);
            string sha = StreamingShardSource.Sha256Of(tmp);
            bool created;
            await using (var f = File.OpenRead(tmp)) created = await Blobs.TryCreateAsync(blob, f, ct);
            if (created) uploaded.Add(blob);
            else
            {
                // this epoch's own earlier attempt (its answer lost): the blob holds the same bytes or a torn retry — use what is stored
                await Blobs.DownloadToFileAsync(blob, tmp, ct);
                sha = StreamingShardSource.Sha256Of(tmp);
            }
            File.Delete(tmp);
            blobsBySite[folder] = new ShardBlob(blob, sha);
            SaeClusterMetrics.ShardWrites.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, new KeyValuePair<string, object?>("sweep", Sweep));
        }
        return new ShardRecord(shard, captured.Tokens.Length, blobsBySite);
    }
}
