using System.Diagnostics;
using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Models;

/// <summary>
/// Runs a Gemma model over packed contexts and writes activation shards for every selected site from ONE
/// forward pass per batch: <c>{out}/{layer}.{site}/shard-{chunk}.safetensors</c> with <c>acts</c>
/// [n, width] (bf16 by default), <c>tokens</c> [n] and <c>positions</c> [n] int32, and metadata (model,
/// site, layer, chunk, dtype, norm_scale). BOS, EOS and padding positions are left out. Chunks are
/// deterministic slices of the context stream, each committed atomically once; a rerun skips chunks whose
/// shards all exist, so an interrupted run resumes by chunk.
/// </summary>
public sealed class ActivationProducer(GemmaModel model, SiteSelection sites, string outDir, int contextsPerChunk,
    int rowsPerBatch = 4, SafetensorsDtype dtype = SafetensorsDtype.BF16, string modelName = "")
{
    /// <summary>Progress: contexts done, tokens written per site, tokens/s.</summary>
    public readonly record struct Progress(long Contexts, long Tokens, double TokensPerSecond, int ChunksSkipped);

    public const string ActsTensor = "acts";

    public static string ShardPath(string outDir, int layer, HookSite site, int chunk) =>
        Path.Combine(outDir, SiteSelection.FolderName(layer, site), $"shard-{chunk:D5}.safetensors");

    /// <summary>Consumes <paramref name="contexts"/> (each [T] ids) chunk by chunk until <paramref name="maxTokens"/> trainable tokens are written.</summary>
    public Progress Run(IEnumerable<int[]> contexts, ContextPacker packer, long maxTokens, Action<Progress>? report = null, CancellationToken ct = default)
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
                scales ??= ReadScales(chunk);
                skipped++;
            }
            else
            {
                var acts = Capture(chunkContexts, packer, ct);
                scales ??= acts.Select((a, i) => NormScale(a, sites.Pairs[i].Site.Width(model.Config))).ToArray();
                Write(chunk, chunkContexts, packer, acts, scales);
            }
            tokens += trainable; done += chunkContexts.Count; chunk++;
            report?.Invoke(new Progress(done, tokens, tokens / Math.Max(1e-9, sw.Elapsed.TotalSeconds), skipped));
        }
        return new Progress(done, tokens, tokens / Math.Max(1e-9, sw.Elapsed.TotalSeconds), skipped);
    }

    // one forward per batch of rows; per site the activations of the trainable positions, in order
    List<float>[] Capture(List<int[]> contexts, ContextPacker packer, CancellationToken ct)
    {
        var perSite = sites.Pairs.Select(_ => new List<float>()).ToArray();
        int T = contexts[0].Length;
        for (int start = 0; start < contexts.Count; start += rowsPerBatch)
        {
            ct.ThrowIfCancellationRequested();
            var rows = contexts.Skip(start).Take(rowsPerBatch).ToArray();
            var ids = rows.SelectMany(r => r).ToArray();
            var keep = ids.Select(packer.Trainable).ToArray();
            model.Forward(ids, rows.Length, new CaptureHook(sites, perSite, keep), logits: false);
        }
        return perSite;
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

    // s with E‖s·x‖² = 1 over the rows of the chunk
    static float NormScale(List<float> acts, int width)
    {
        if (acts.Count == 0) return 1f;
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(acts);
        double sumSq = 0;
        for (int i = 0; i < span.Length; i += 1 << 16) sumSq += TensorPrimitives.SumOfSquares(span.Slice(i, Math.Min(1 << 16, span.Length - i)));
        double meanSq = sumSq / (acts.Count / width);
        return meanSq > 0 ? (float)(1 / Math.Sqrt(meanSq)) : 1f;
    }

    float[] ReadScales(int chunk) => sites.Pairs.Select(p =>
    {
        using var f = SafetensorsFile.Open(ShardPath(outDir, p.Layer, p.Site, chunk));
        return f.Metadata.TryGetValue("norm_scale", out var s) ? float.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 1f;
    }).ToArray();

    void Write(int chunk, List<int[]> contexts, ContextPacker packer, List<float>[] acts, float[] scales)
    {
        var tokenIds = new List<int>(); var positions = new List<int>();
        foreach (var ctx in contexts)
            for (int p = 0; p < ctx.Length; p++)
                if (packer.Trainable(ctx[p])) { tokenIds.Add(ctx[p]); positions.Add(p); }
        for (int i = 0; i < sites.Pairs.Count; i++)
        {
            var (layer, site) = sites.Pairs[i];
            int width = site.Width(model.Config);
            string path = ShardPath(outDir, layer, site, chunk);
            if (File.Exists(path)) continue; // committed before an interruption: shards are written once
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var w = new SafetensorsWriter();
            w.Add(ActsTensor, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(acts[i]), [tokenIds.Count, width], dtype);
            w.Add("tokens", System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokenIds), [tokenIds.Count]);
            w.Add("positions", System.Runtime.InteropServices.CollectionsMarshal.AsSpan(positions), [positions.Count]);
            w.Metadata["model"] = modelName;
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
            w.Metadata["context_size"] = contexts[0].Length.ToString();
            w.Metadata["norm_scale"] = scales[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            w.Write(path, overwrite: false);
        }
    }
}
