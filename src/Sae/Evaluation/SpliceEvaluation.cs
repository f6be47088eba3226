using System.Numerics.Tensors;
using SaeCluster.Models;

namespace SaeCluster.Sae;

/// <summary>
/// Evaluates SAEs inside the model they were trained on (../shared/reference/sae-training.md, evaluation): per batch of
/// held-out contexts one clean forward pass, shared by every SAE, captures each site and the clean next-token
/// cross-entropy; per site one pass with the site zero-ablated; per SAE one pass with its reconstruction spliced in
/// at its site. From these: L0, pooled FVU, MSE, dead fraction and firing densities; CE clean, spliced (delta LM
/// loss) and zero-ablated; the CE loss score (CE_zero − CE_sae) / (CE_zero − CE_clean); KL(clean ‖ spliced) per
/// token; all by position bucket; and each latent's top-activating contexts. BOS, EOS and pad positions keep their
/// clean activation and are left out of every average unless <see cref="EvalOptions.IncludeSpecial"/>.
/// </summary>
public static class SpliceEvaluation
{
    public readonly record struct Progress(long Tokens, long Total);

    public static IReadOnlyList<SaeEvalResult> Run(GemmaModel model, IEnumerable<int[]> contexts, IReadOnlyList<EvalSae> saes,
        EvalOptions options, Func<int, string> tokenText, Action<Progress>? progress = null, CancellationToken ct = default)
    {
        options.Validate();
        if (saes.Count == 0) throw new ConfigException("--sae", "no SAE to evaluate");
        var cfg = model.Config;
        var sites = saes.Select(s => (s.Layer, s.Site)).Distinct().ToArray();
        // the clean pass also keeps the residual stream entering each site's layer: spliced passes start there
        var captured = sites.Concat(sites.Where(s => s.Layer > 0).Select(s => (Layer: s.Layer - 1, Site: HookSite.Res))).Distinct().ToArray();
        int T = -1, buckets = 0;
        SaeEvalAccumulator[] acc = [];
        var zeroCe = sites.ToDictionary(s => s, _ => 0.0);
        double cleanCe = 0;
        long ceTokens = 0, tokens = 0, specialSkipped = 0;
        double[] bucketClean = [];
        long[] bucketCleanTokens = [];

        foreach (var batch in Batches(contexts, options.BatchContexts, cfg.VocabSize))
        {
            ct.ThrowIfCancellationRequested();
            if (T < 0)
            {
                T = batch[0].Length;
                buckets = PositionBuckets.Count(T);
                acc = saes.Select(s => new SaeEvalAccumulator(s, buckets, options)).ToArray();
                bucketClean = new double[buckets]; bucketCleanTokens = new long[buckets];
            }
            if (batch.Any(c => c.Length != T)) throw new ArgumentException("every context must have the same length");
            int rows = batch.Length, n = rows * T;
            var ids = batch.SelectMany(c => c).ToArray();
            bool Special(int id) => id == cfg.BosId || id == cfg.EosId || id == cfg.PadId;
            var counted = new bool[n];
            var lossCounted = new bool[n];
            for (int t = 0; t < n; t++)
            {
                counted[t] = options.IncludeSpecial || !Special(ids[t]);
                lossCounted[t] = t % T != T - 1 && ids[t + 1] != cfg.PadId && (options.IncludeSpecial || !Special(ids[t]));
                if (!counted[t]) specialSkipped++;
            }

            // clean: every site captured, the reference distribution kept as log-probabilities
            var capture = new CaptureHook(captured);
            float[]? Entering(int layer) => layer == 0 ? null : capture.Values[(layer - 1, HookSite.Res)];
            var logits = model.Forward(ids, rows, capture)!;
            var ceClean = model.CrossEntropy(ids, rows, logits);
            LogSoftmaxRows(logits, n, cfg.VocabSize);
            var lpClean = logits;
            for (int t = 0; t < n; t++)
                if (lossCounted[t]) { cleanCe += ceClean[t]; ceTokens++; int b = PositionBuckets.Of(t % T); bucketClean[b] += ceClean[t]; bucketCleanTokens[b]++; }

            foreach (var site in sites)
            {
                var zeroLogits = model.Forward(ids, rows, new SpliceHook(site.Layer, site.Site, null, counted), fromLayer: site.Layer, residual: Entering(site.Layer))!;
                var ceZero = model.CrossEntropy(ids, rows, zeroLogits);
                for (int t = 0; t < n; t++) if (lossCounted[t]) zeroCe[site] += ceZero[t];
            }

            for (int i = 0; i < saes.Count; i++)
            {
                var s = saes[i];
                var w = s.Weights;
                var x = capture.Values[(s.Layer, s.Site)];
                var codes = new float[(long)n * w.DSae];
                var recon = new float[n * w.DIn];
                w.Encode(x, n, codes, recon);
                acc[i].AddReconstruction(x, recon, codes, counted, T);
                acc[i].Examples.Offer(codes, ids, T, counted);
                var spliced = model.Forward(ids, rows, new SpliceHook(s.Layer, s.Site, recon, counted), fromLayer: s.Layer, residual: Entering(s.Layer))!;
                var ceSae = model.CrossEntropy(ids, rows, spliced);
                var kl = KlPerToken(lpClean, spliced, n, cfg.VocabSize, lossCounted);
                acc[i].AddLoss(ceClean, ceSae, kl, lossCounted, T);
            }
            tokens += n;
            progress?.Invoke(new Progress(tokens, options.Tokens));
        }
        if (T < 0) throw new DataException("corpus", "gave no context to evaluate on");

        return acc.Select(a => SaeEvalResult.From(a, options, T, tokens, specialSkipped,
            cleanCe / Math.Max(1, ceTokens), zeroCe[(a.Sae.Layer, a.Sae.Site)] / Math.Max(1, ceTokens),
            bucketClean, bucketCleanTokens, tokenText)).ToArray();
    }

    /// <summary>The logits of one pass, the clean log-probabilities and a spliced pass's are alive at once: each is kept under this.</summary>
    public const long LogitBudgetBytes = 512L << 20;

    // contexts in batches of at most maxContexts, fewer when [contexts·T, V] logits would pass the budget (Gemma's 256k vocabulary)
    static IEnumerable<int[][]> Batches(IEnumerable<int[]> contexts, int maxContexts, int vocab)
    {
        var batch = new List<int[]>();
        int size = maxContexts;
        foreach (var c in contexts)
        {
            if (batch.Count == 0) size = (int)Math.Clamp(LogitBudgetBytes / Math.Max(1L, (long)c.Length * vocab * sizeof(float)), 1, maxContexts);
            batch.Add(c);
            if (batch.Count == size) { yield return [.. batch]; batch.Clear(); }
        }
        if (batch.Count > 0) yield return [.. batch];
    }

    // logits [n, V] → log softmax, in place
    static void LogSoftmaxRows(float[] logits, int n, int vocab) => Parallel.For(0, n, t =>
    {
        var row = logits.AsSpan(t * vocab, vocab);
        float max = TensorPrimitives.Max(row);
        double sum = 0;
        foreach (float z in row) sum += Math.Exp(z - max);
        TensorPrimitives.Subtract(row, (float)(max + Math.Log(sum)), row);
    });

    // KL(p_clean ‖ p_spliced) = Σ_v p_clean (log p_clean − log p_spliced); spliced holds logits, turned into log-probs here
    static float[] KlPerToken(float[] lpClean, float[] spliced, int n, int vocab, bool[] counted)
    {
        LogSoftmaxRows(spliced, n, vocab);
        var kl = new float[n];
        Parallel.For(0, n, t =>
        {
            if (!counted[t]) return;
            var c = lpClean.AsSpan(t * vocab, vocab);
            var s = spliced.AsSpan(t * vocab, vocab);
            double sum = 0;
            for (int v = 0; v < vocab; v++) { double lp = c[v]; sum += Math.Exp(lp) * (lp - s[v]); }
            kl[t] = (float)Math.Max(0, sum);
        });
        return kl;
    }
}
