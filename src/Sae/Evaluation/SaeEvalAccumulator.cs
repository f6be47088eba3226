using SaeCluster.Models;

namespace SaeCluster.Sae;

/// <summary>
/// Running sums for one SAE over the evaluation tokens: reconstruction (pooled FVU: Σ‖x − x̂‖² against Σ‖x − x̄‖²
/// with x̄ the mean over all counted tokens, kept as Σx and Σ‖x‖²), L0 per token, firing counts per latent, the
/// spliced cross-entropy and KL(clean ‖ spliced) per token, and all of it by position bucket.
/// </summary>
internal sealed class SaeEvalAccumulator
{
    public readonly EvalSae Sae;
    public readonly LatentExamples Examples;
    public readonly long[] Firing;
    public readonly List<int> L0PerToken = [];
    public long Tokens, CeTokens;
    public double SqErr, SumSq, CeSae, Kl;
    public readonly double[] SumX;
    // by position bucket
    public readonly double[] BucketSqErr, BucketSumSq, BucketDelta;
    public readonly double[][] BucketSumX;
    public readonly long[] BucketTokens, BucketCeTokens;

    public SaeEvalAccumulator(EvalSae sae, int buckets, EvalOptions options)
    {
        Sae = sae;
        int d = sae.Weights.DIn, n = sae.Weights.DSae;
        Firing = new long[n];
        SumX = new double[d];
        Examples = new LatentExamples(n, options.ExamplesPerLatent, options.Window);
        BucketSqErr = new double[buckets]; BucketSumSq = new double[buckets]; BucketDelta = new double[buckets];
        BucketSumX = Enumerable.Range(0, buckets).Select(_ => new double[d]).ToArray();
        BucketTokens = new long[buckets]; BucketCeTokens = new long[buckets];
    }

    /// <summary>Adds the reconstruction of the counted positions of a batch: x, x̂ [N, d_in], codes [N, d_sae].</summary>
    public void AddReconstruction(float[] x, float[] xhat, float[] codes, bool[] counted, int T)
    {
        int d = Sae.Weights.DIn, n = Sae.Weights.DSae;
        for (int t = 0; t < counted.Length; t++)
        {
            if (!counted[t]) continue;
            int b = PositionBuckets.Of(t % T);
            double err = 0, sq = 0;
            var bx = BucketSumX[b];
            for (int i = 0; i < d; i++)
            {
                double v = x[(long)t * d + i], e = v - xhat[(long)t * d + i];
                err += e * e; sq += v * v;
                SumX[i] += v; bx[i] += v;
            }
            SqErr += err; SumSq += sq; Tokens++;
            BucketSqErr[b] += err; BucketSumSq[b] += sq; BucketTokens[b]++;
            int l0 = 0;
            var row = codes.AsSpan((int)((long)t * n), n);
            for (int j = 0; j < n; j++) if (row[j] != 0) { l0++; Firing[j]++; }
            L0PerToken.Add(l0);
        }
    }

    /// <summary>Adds the spliced cross-entropy and KL of the positions whose loss counts.</summary>
    public void AddLoss(float[] ceClean, float[] ceSae, float[] kl, bool[] lossCounted, int T)
    {
        for (int t = 0; t < lossCounted.Length; t++)
        {
            if (!lossCounted[t]) continue;
            int b = PositionBuckets.Of(t % T);
            CeSae += ceSae[t]; Kl += kl[t]; CeTokens++;
            BucketDelta[b] += ceSae[t] - ceClean[t]; BucketCeTokens[b]++;
        }
    }
}
