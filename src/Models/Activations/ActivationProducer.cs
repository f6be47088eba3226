using System.Diagnostics;
using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Models;

/// <summary>
/// Runs a Gemma model over packed contexts and captures every selected site from ONE forward pass per
/// batch (<see cref="Capture"/>); each chunk becomes one shard per site (<see cref="ShardWriter"/>) with
/// <c>acts</c> [n, width] (bf16 by default), <c>tokens</c> [n] and <c>positions</c> [n] int32, and
/// metadata (model, corpus, site, layer, hook_name, chunk, dtype, context_size, norm_scale). BOS, EOS and padding positions are left out.
/// <see cref="Run"/> writes them to <c>{out}/{layer}.{site}/shard-{chunk}.safetensors</c>: chunks are
/// deterministic slices of the context stream, each committed atomically once; a rerun skips chunks whose
/// shards all exist, so an interrupted run resumes by chunk. The cluster's producer actors store the same
/// shards in blob storage.
/// </summary>
public sealed class ActivationProducer(GemmaModel model, SiteSelection sites, int rowsPerBatch = 4,
    SafetensorsDtype dtype = SafetensorsDtype.BF16, string modelName = "", string corpus = "")
{
    /// <summary>Progress: contexts done, tokens written per site, tokens/s.</summary>
    public readonly record struct Progress(long Contexts, long Tokens, double TokensPerSecond, int ChunksSkipped);

    public const string ActsTensor = "acts";

    public static string ShardPath(string outDir, int layer, HookSite site, int chunk) =>
        Path.Combine(outDir, SiteSelection.FolderName(layer, site), $"shard-{chunk:D5}.safetensors");

    public SiteSelection Sites => sites;

    /// <summary>Consumes <paramref name="contexts"/> (each [T] ids) chunk by chunk until <paramref name="maxTokens"/> trainable tokens are written.</summary>
    public Progress Run(IEnumerable<int[]> contexts, ContextPacker packer, string outDir, int contextsPerChunk, long maxTokens,
        Action<Progress>? report = null, CancellationToken ct = default)
    {
        var sw = Stopwatch.StartNew();
        long tokens = 0, done = 0; int skipped = 0, chunk = 0;
        float[]? scales = null;
        using var e = contexts.GetEnumerator();
        while (tokens < maxTokens)
        {
            ct.ThrowIfCancellationRequested();
            var chunkContexts = new List<int[]>();
            while (chunkContexts.Count < contextsPerChunk && e.MoveNext()) chunkContexts.Add(e.Current);
            if (chunkContexts.Count == 0) break;
            int trainable = chunkContexts.Sum(c => c.Count(packer.Trainable));
            if (sites.Pairs.All(p => File.Exists(ShardPath(outDir, p.Layer, p.Site, chunk))))
            {
                // already committed: resume past it, keeping the scale it recorded
                scales ??= ReadScales(outDir, chunk);
                skipped++;
            }
            else
            {
                var captured = Capture(chunkContexts, packer, ct);
                scales ??= captured.NormScales();
                for (int i = 0; i < sites.Pairs.Count; i++)
                {
                    var (layer, site) = sites.Pairs[i];
                    string path = ShardPath(outDir, layer, site, chunk);
                    if (File.Exists(path)) continue; // committed before an interruption: shards are written once
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    ShardWriter(captured, i, chunk, scales[i]).Write(path, overwrite: false);
                }
            }
            tokens += trainable; done += chunkContexts.Count; chunk++;
            report?.Invoke(new Progress(done, tokens, tokens / Math.Max(1e-9, sw.Elapsed.TotalSeconds), skipped));
        }
        return new Progress(done, tokens, tokens / Math.Max(1e-9, sw.Elapsed.TotalSeconds), skipped);
    }

    /// <summary>One forward per batch of rows over <paramref name="contexts"/>; per site the activations of the trainable positions, in order.</summary>
    public CapturedChunk Capture(IReadOnlyList<int[]> contexts, ContextPacker packer, CancellationToken ct = default)
    {
        var perSite = sites.Pairs.Select(_ => new List<float>()).ToArray();
        for (int start = 0; start < contexts.Count; start += rowsPerBatch)
        {
            ct.ThrowIfCancellationRequested();
            var rows = contexts.Skip(start).Take(rowsPerBatch).ToArray();
            var ids = rows.SelectMany(r => r).ToArray();
            var keep = ids.Select(packer.Trainable).ToArray();
            model.Forward(ids, rows.Length, new CaptureHook(sites, perSite, keep), logits: false);
        }
        var tokenIds = new List<int>(); var positions = new List<int>();
        foreach (var ctx in contexts)
            for (int p = 0; p < ctx.Length; p++)
                if (packer.Trainable(ctx[p])) { tokenIds.Add(ctx[p]); positions.Add(p); }
        return new CapturedChunk(tokenIds.ToArray(), positions.ToArray(), perSite,
            sites.Pairs.Select(p => p.Site.Width(model.Config)).ToArray(), contexts[0].Length);
    }

    sealed class CaptureHook(SiteSelection sites, List<float>[] perSite, bool[] keep) : IActivationHook
    {
        public bool Wants(int layer, HookSite site) => sites.Pairs.Contains((layer, site));

        public void OnActivation(int layer, HookSite site, Span<float> values, int tokens, int width)
        {
            int i = IndexOf(layer, site);
            for (int t = 0; t < tokens; t++)
                if (keep[t]) perSite[i].AddRange(values.Slice(t * width, width));
        }

        int IndexOf(int layer, HookSite site)
        {
            for (int i = 0; i < sites.Pairs.Count; i++) if (sites.Pairs[i] == (layer, site)) return i;
            throw new InvalidOperationException();
        }
    }

    float[] ReadScales(string outDir, int chunk) => sites.Pairs.Select(p =>
    {
        using var f = SafetensorsFile.Open(ShardPath(outDir, p.Layer, p.Site, chunk));
        return f.Metadata.TryGetValue("norm_scale", out var s) ? float.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 1f;
    }).ToArray();

    /// <summary>The shard of site #<paramref name="siteIndex"/> of a captured chunk, ready to write.</summary>
    public SafetensorsWriter ShardWriter(CapturedChunk captured, int siteIndex, int chunk, float normScale)
    {
        var (layer, site) = sites.Pairs[siteIndex];
        int n = captured.Tokens.Length;
        var w = new SafetensorsWriter();
        w.Add(ActsTensor, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(captured.Acts[siteIndex]), [n, captured.Widths[siteIndex]], dtype);
        w.Add("tokens", captured.Tokens, [n]);
        w.Add("positions", captured.Positions, [n]);
        w.Metadata["model"] = modelName;
        if (corpus.Length > 0) w.Metadata["corpus"] = corpus; // the text the activations come from: an SAE's dataset
        w.Metadata["site"] = site.Name();
        w.Metadata["layer"] = layer.ToString();
        w.Metadata["hook_name"] = site switch
        {
            HookSite.Res => $"blocks.{layer}.hook_resid_post",
            HookSite.Mlp => $"blocks.{layer}.hook_mlp_out",
            HookSite.Att => $"blocks.{layer}.attn.hook_z",
            _ => $"blocks.{layer}.hook_attn_out",
        };
        w.Metadata["chunk"] = chunk.ToString();
        w.Metadata["dtype"] = dtype.HeaderName();
        w.Metadata["context_size"] = captured.ContextSize.ToString();
        w.Metadata["norm_scale"] = normScale.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        return w;
    }
}
