using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// What <see cref="SpliceEvaluation"/> measured for one SAE: the numbers of <c>eval.json</c>, the latent browser of
/// <c>latents.json</c>, and the summary merged into <c>metrics.json</c>.
/// </summary>
public sealed record SaeEvalResult(EvalSae Sae, JsonObject Eval, JsonObject Latents)
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public double L0 => (double)Eval["l0"]!;
    public double Fvu => (double)Eval["fvu"]!;
    public double DeltaLoss => (double)Eval["delta_loss"]!;
    public double CeLossScore => (double)Eval["ce_loss_score"]!;
    public double Kl => (double)Eval["kl"]!;
    public double DeadFraction => (double)Eval["dead_fraction"]!;
    public double CeClean => (double)Eval["ce_clean"]!;
    public double CeSae => (double)Eval["ce_sae"]!;
    public double CeZero => (double)Eval["ce_zero"]!;

    internal static SaeEvalResult From(SaeEvalAccumulator a, EvalOptions o, int context, long tokensSeen, long specialSkipped,
        double ceClean, double ceZero, double[] bucketClean, long[] bucketCleanTokens, Func<int, string> tokenText)
    {
        var s = a.Sae;
        var w = s.Weights;
        double fvu = PooledFvu.From(a.SqErr, a.SumSq, a.SumX, a.Tokens);
        double ceSae = a.CeSae / Math.Max(1, a.CeTokens);
        double l0 = a.L0PerToken.Count > 0 ? a.L0PerToken.Average() : double.NaN;
        var sortedL0 = a.L0PerToken.Order().ToArray();
        double Q(double q) => sortedL0.Length == 0 ? double.NaN : sortedL0[(int)Math.Min(sortedL0.Length - 1, Math.Floor(q * sortedL0.Length))];
        // L0 histogram over 0, 1, 2, 4, 8, … up to d_sae
        var l0Edges = new List<int> { 0, 1 };
        while (l0Edges[^1] < w.DSae) l0Edges.Add(l0Edges[^1] * 2);
        var l0Counts = new long[l0Edges.Count - 1];
        foreach (int v in sortedL0)
        {
            int b = 0;
            while (b < l0Counts.Length - 1 && v >= l0Edges[b + 1]) b++;
            l0Counts[b]++;
        }
        // log10 firing density per latent, in bins of 0.5 from 10⁻⁸ to 1; dead = never fired on these tokens
        var densEdges = Enumerable.Range(0, 17).Select(i => -8 + 0.5 * i).ToArray();
        var densCounts = new long[densEdges.Length - 1];
        int dead = 0;
        var density = a.Firing.Select(f => f / (double)Math.Max(1, a.Tokens)).ToArray();
        foreach (double dsty in density)
        {
            if (dsty == 0) { dead++; continue; }
            int b = (int)Math.Floor((Math.Log10(dsty) + 8) / 0.5);
            densCounts[Math.Clamp(b, 0, densCounts.Length - 1)]++;
        }
        var byPosition = new JsonArray();
        for (int b = 0; b < a.BucketTokens.Length; b++)
        {
            if (a.BucketTokens[b] == 0 && a.BucketCeTokens[b] == 0) continue;
            var (from, to) = PositionBuckets.Range(b, context);
            byPosition.Add(new JsonObject
            {
                ["from"] = from, ["to"] = to, ["tokens"] = a.BucketTokens[b],
                ["fvu"] = Finite(PooledFvu.From(a.BucketSqErr[b], a.BucketSumSq[b], a.BucketSumX[b], a.BucketTokens[b])),
                ["delta_loss"] = a.BucketCeTokens[b] > 0 ? a.BucketDelta[b] / a.BucketCeTokens[b] : null,
                ["ce_clean"] = bucketCleanTokens[b] > 0 ? bucketClean[b] / bucketCleanTokens[b] : null,
            });
        }
        var p = w.Provenance;
        var eval = new JsonObject
        {
            ["sae"] = s.Sae.Location,
            ["format"] = s.Sae.Format.ToName(),
            ["architecture"] = w.Architecture.ToName(),
            ["d_in"] = w.DIn, ["d_sae"] = w.DSae, ["k"] = w.K > 0 ? w.K : null,
            ["hook"] = p.HookName, ["layer"] = s.Layer, ["site"] = p.Site,
            ["tokens"] = a.Tokens, ["tokens_seen"] = tokensSeen, ["loss_tokens"] = a.CeTokens, ["context"] = context,
            ["include_special"] = o.IncludeSpecial, ["special_positions_skipped"] = specialSkipped,
            ["l0"] = Finite(l0),
            ["l0_quantiles"] = new JsonObject { ["p10"] = Finite(Q(0.1)), ["p50"] = Finite(Q(0.5)), ["p90"] = Finite(Q(0.9)) },
            ["l0_histogram"] = new JsonObject { ["edges"] = new JsonArray([.. l0Edges.Select(e => (JsonNode?)e)]), ["counts"] = new JsonArray([.. l0Counts.Select(c => (JsonNode?)c)]) },
            ["fvu"] = Finite(fvu),
            ["explained_variance"] = Finite(1 - fvu),
            ["mse"] = Finite(a.SqErr / Math.Max(1, a.Tokens) / w.DIn),
            ["dead_fraction"] = dead / (double)w.DSae,
            ["firing_density_histogram"] = new JsonObject
            {
                ["edges_log10"] = new JsonArray([.. densEdges.Select(e => (JsonNode?)e)]), ["counts"] = new JsonArray([.. densCounts.Select(c => (JsonNode?)c)]), ["dead"] = dead,
            },
            ["ce_clean"] = ceClean,
            ["ce_sae"] = ceSae,
            ["ce_zero"] = ceZero,
            ["delta_loss"] = ceSae - ceClean,
            ["ce_loss_score"] = Finite((ceZero - ceSae) / (ceZero - ceClean)),
            ["kl"] = a.Kl / Math.Max(1, a.CeTokens),
            ["by_position"] = byPosition,
        };
        return new SaeEvalResult(s, eval, BuildLatents(a, density, o, tokenText));
    }

    static double? Finite(double v) => double.IsFinite(v) ? v : null;

    // a sample of latents plus the densest and the rarest that fired, with their top contexts
    static JsonObject BuildLatents(SaeEvalAccumulator a, double[] density, EvalOptions o, Func<int, string> tokenText)
    {
        int n = density.Length;
        var alive = Enumerable.Range(0, n).Where(j => density[j] > 0).ToArray();
        var chosen = new List<(int Index, string Kind)>();
        foreach (int j in alive.OrderByDescending(j => density[j]).Take(o.ExtremeLatents)) chosen.Add((j, "densest"));
        foreach (int j in alive.OrderBy(j => density[j]).Take(o.ExtremeLatents)) if (!chosen.Any(c => c.Index == j)) chosen.Add((j, "rarest"));
        var rng = new Random((int)(o.Seed % int.MaxValue));
        foreach (int j in alive.OrderBy(_ => rng.Next()).Where(j => !chosen.Any(c => c.Index == j)).Take(o.SampleLatents).Order()) chosen.Add((j, "sample"));
        var latents = new JsonArray();
        foreach (var (j, kind) in chosen)
        {
            var examples = a.Examples.Of(j);
            latents.Add(new JsonObject
            {
                ["index"] = j, ["kind"] = kind, ["density"] = density[j], ["max_activation"] = examples.Length > 0 ? (double)examples[0].Max : 0.0,
                ["examples"] = new JsonArray([.. examples.Select(e => (JsonNode?)new JsonObject
                {
                    ["tokens"] = new JsonArray([.. e.Tokens.Select(t => (JsonNode?)tokenText(t))]),
                    ["activations"] = new JsonArray([.. e.Activations.Select(v => (JsonNode?)Math.Round(v, 4))]),
                    ["max_at"] = e.MaxAt, ["max"] = (double)e.Max,
                })]),
            });
        }
        return new JsonObject { ["sae"] = a.Sae.Sae.Location, ["window"] = o.Window, ["latents"] = latents };
    }

    /// <summary>
    /// Writes <c>eval.json</c> and <c>latents.json</c> into the SAE's folder (each atomically) and merges the headline
    /// numbers into its <c>metrics.json</c> when it has one.
    /// </summary>
    public void Write(string? folder = null)
    {
        folder ??= Sae.Folder;
        AtomicFile.WriteText(Path.Combine(folder, "eval.json"), Eval.ToJsonString(Indented));
        AtomicFile.WriteText(Path.Combine(folder, "latents.json"), Latents.ToJsonString());
        string metricsPath = Path.Combine(folder, "metrics.json");
        if (File.Exists(metricsPath) && JsonNode.Parse(File.ReadAllText(metricsPath)) is JsonObject metrics)
        {
            foreach (var key in new[] { "delta_loss", "ce_loss_score", "kl", "ce_clean", "ce_sae", "ce_zero" }) metrics[key] = Eval[key]?.DeepClone();
            metrics["eval_l0"] = Eval["l0"]?.DeepClone();
            metrics["eval_fvu"] = Eval["fvu"]?.DeepClone();
            AtomicFile.WriteText(metricsPath, metrics.ToJsonString(Indented));
        }
    }
}
