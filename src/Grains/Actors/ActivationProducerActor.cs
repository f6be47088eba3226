using System.Diagnostics;
using System.Text.Json.Nodes;
using SaeCluster.Models;
using SaeCluster.Sae;

namespace SaeCluster.Grains;

/// <summary>
/// Produces a range of shards of a sweep: runs the Gemma model over the contexts of shards
/// [first, first + count) and, per shard, writes one blob per site (write-once) and commits the shard's
/// rows and SHA-256s in its state — the catalog trainers stream from. A re-activation skips shards its
/// state already lists. When the corpus ends inside the range it records where, and finishes.
/// </summary>
public sealed class ActivationProducerActor : IActor
{
    /// <summary>Contexts per forward pass.</summary>
    public int RowsPerBatch { get; init; } = 4;

    public async Task RunAsync(ActorContext ctx, CancellationToken ct)
    {
        string sweep = SweepKeys.SweepOf(ctx.Key);
        var spec = await SweepSpecCache.LoadAsync(ctx.Store, sweep, ct);
        var state = ctx.StateObject();
        int first = (int)state["first"]!, count = (int)state["count"]!;
        var shards = state["shards"] as JsonObject ?? [];
        state["shards"] = shards;
        if (Enumerable.Range(first, count).All(i => shards.ContainsKey(i.ToString())))
        {
            await ctx.CommitAsync(state, ActorStatus.Done, ct);
            return;
        }

        var sites = new SiteSelection(spec.Sites);
        var model = Load(() => GemmaModel.Load(spec.ModelDir, sites.DeepestLayer + 1), spec.ModelDir);
        model.Bf16Matmuls = spec.ModelPrecision switch
        {
            EncoderPrecision.Float32 => false,
            EncoderPrecision.BFloat16 => true,
            _ => Compute.Gemm.HasFastBf16,
        };
        string tokenizerPath = Path.Combine(spec.ModelDir, "tokenizer.json");
        var tokenizer = Load(() => GemmaTokenizer.Load(tokenizerPath), tokenizerPath);
        var corpus = CorpusDocuments.FromPatterns(spec.CorpusPaths, spec.TextField);
        var packer = new ContextPacker(spec.Context, spec.Model.BosId, spec.Model.EosId, spec.Model.PadId);
        var producer = new ActivationProducer(model, sites, RowsPerBatch, spec.ShardDtype, Path.GetFileName(spec.ModelDir));
        using var contexts = packer.Pack(corpus.Read(ct).Select(d => d.Tokens ?? tokenizer.Encode(d.Text!, addSpecialTokens: false)))
            .Skip(first * spec.ContextsPerShard).GetEnumerator();

        var sw = Stopwatch.StartNew();
        long tokensBefore = (long?)state["tokens"] ?? 0, tokensHere = 0;
        var uploaded = new List<string>(); // blobs this activation created for the shard in hand, not committed yet
        for (int shard = first; shard < first + count; shard++)
        {
            ct.ThrowIfCancellationRequested();
            var chunk = new List<int[]>();
            while (chunk.Count < spec.ContextsPerShard && contexts.MoveNext()) chunk.Add(contexts.Current);
            if (chunk.Count == 0) { state["end"] = shard; break; }
            if (!shards.ContainsKey(shard.ToString()))
            {
                try
                {
                    var entry = await ProduceAsync(ctx, sweep, producer, sites, chunk, packer, shard, uploaded, ct);
                    shards[shard.ToString()] = entry;
                    tokensHere += (long)entry["rows"]!;
                    state["tokens"] = tokensBefore + tokensHere;
                    state["tokens_per_s"] = Math.Round(tokensHere / Math.Max(1e-9, sw.Elapsed.TotalSeconds), 1);
                    await ctx.CommitAsync(state, ActorStatus.Running, ct);
                    uploaded.Clear();
                    SaeClusterMetrics.ProducedTokens.Add((long)entry["rows"]!, new KeyValuePair<string, object?>("sweep", sweep));
                    SaeClusterMetrics.ProducedShards.Add(1, new KeyValuePair<string, object?>("sweep", sweep));
                }
                catch (Exception e) when (e is LeaseLostException or OperationCanceledException || ctx.LeaseLost)
                {
                    await DiscardIfEndedAsync(ctx, uploaded);
                    throw;
                }
            }
            if (chunk.Count < spec.ContextsPerShard) { state["end"] = shard + 1; break; }
        }
        await ctx.CommitAsync(state, ActorStatus.Done, ct);
        ctx.Log($"produced shards {first}–{first + count - 1}{(state["end"] != null ? $" (the corpus ends at shard {state["end"]})" : "")}: {tokensHere:N0} tokens × {sites.Pairs.Count} site(s)");
    }

    // Fenced or stopped with a shard uploaded but not committed. If the producer was ended (the sweep no longer needs it)
    // nothing will ever list those blobs: delete them. If another activation of it took over, leave them —
    // it finds them write-once and records what is stored.
    static async Task DiscardIfEndedAsync(ActorContext ctx, List<string> uploaded)
    {
        if (uploaded.Count == 0 || await ctx.StoredStatusAsync(TimeSpan.FromSeconds(10)) is not (ActorStatus.Done or ActorStatus.Cancelled or ActorStatus.Failed)) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            foreach (string blob in uploaded) await ctx.Blobs.DeleteAsync(blob, timeout.Token);
            ctx.Log($"ended while writing a shard: deleted its {uploaded.Count} uncommitted blob(s)");
        }
        catch (Exception e) when (e is OperationCanceledException || SiloRuntime.IsTransient(e)) { } // best effort: the blobs stay
    }

    static T Load<T>(Func<T> load, string path)
    {
        try { return load(); }
        catch (Exception e) when (e is ModelFormatException or TokenizerFormatException or ConfigException or Compute.SafetensorsFormatException)
        {
            throw new ActorFailedException($"{path}: {e.Message}", e);
        }
    }

    // One shard: capture every site, write each site's blob (write-once), return {rows, sha256: {site: hash}}.
    static async Task<JsonObject> ProduceAsync(ActorContext ctx, string sweep, ActivationProducer producer, SiteSelection sites,
        List<int[]> chunk, ContextPacker packer, int shard, List<string> uploaded, CancellationToken ct)
    {
        var captured = producer.Capture(chunk, packer, ct);
        var scales = captured.NormScales();
        var hashes = new JsonObject();
        for (int i = 0; i < sites.Pairs.Count; i++)
        {
            var (layer, site) = sites.Pairs[i];
            long start = Stopwatch.GetTimestamp();
            string blob = SweepKeys.ShardBlob(sweep, layer, site, shard);
            string tmp = Path.Combine(ctx.WorkDirectory, $"shard-{shard}-{i}.safetensors");
            producer.ShardWriter(captured, i, shard, scales[i]).Write(tmp);
            string sha = StreamingShardSource.Sha256Of(tmp);
            bool created;
            await using (var f = File.OpenRead(tmp)) created = await ctx.Blobs.TryCreateAsync(blob, f, ct);
            if (created) uploaded.Add(blob);
            else
            {
                // a previous activation of this producer wrote it before losing its lease: the first writer wins, and we record what is stored
                await ctx.Blobs.DownloadToFileAsync(blob, tmp, ct);
                sha = StreamingShardSource.Sha256Of(tmp);
            }
            File.Delete(tmp);
            hashes[SiteSelection.FolderName(layer, site)] = sha;
            SaeClusterMetrics.ShardWrites.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, new KeyValuePair<string, object?>("sweep", sweep));
        }
        return new JsonObject { ["rows"] = (long)captured.Tokens.Length, ["sha256"] = hashes };
    }
}
