using System.Text.Json.Nodes;

namespace SaeCluster.Client.Tests;

/// <summary>
/// Writes a sweep's output folder as training and <c>saectl eval</c> leave it, standing in for <c>saectl eval</c>
/// until it lands: sites <c>0.mlp</c> and <c>1.res</c>, each with TopK SAEs of widths 128 (k 4 and 8) and 256
/// (k 8) and a JumpReLU of width 256, every one with cfg.json (SAELens v6 + our <c>saecluster</c> block),
/// metrics.json, eval.json, latents.json and train_log.jsonl (its last line cut short, as a crash leaves it).
/// Each SAE folder also holds a <c>gemmascope/</c> copy and the sweep a <c>checkpoint/</c> folder, which the
/// report must not count. The latents' tokens carry markup, entities, quotes and newlines.
/// </summary>
public static class EvalOutputFixture
{
    /// <summary>The sites written, in the order the report shows them.</summary>
    public static readonly string[] Sites = ["0.mlp", "1.res"];

    /// <summary>Every SAE: site, name, architecture, width, k (null for JumpReLU).</summary>
    public static readonly (string Site, string Name, string Arch, int Width, int? K)[] Saes =
    [
        .. Sites.SelectMany(site => new (string, string, string, int, int?)[]
        {
            (site, "topk-w128-k4", "topk", 128, 4),
            (site, "topk-w128-k8", "topk", 128, 8),
            (site, "topk-w256-k8", "topk", 256, 8),
            (site, "jumprelu-w256", "jumprelu", 256, null),
        }),
    ];

    /// <summary>Special positions each evaluation skipped (eval.json <c>special_positions_skipped</c>).</summary>
    public const int SpecialPositionsSkipped = 130;

    /// <summary>A token every latent's first example holds: markup that must come out escaped.</summary>
    public const string MarkupToken = "<script>alert('x')</script>";

    const int DIn = 64, Window = 12, LatentsPerSae = 3, Steps = 8;

    /// <summary>Writes the sweep into <paramref name="root"/>: <c>{root}/saes/{site}/{name}/</c>.</summary>
    public static void Write(string root)
    {
        foreach (var (site, name, arch, width, k) in Saes)
        {
            string dir = Path.Combine(root, "saes", site, name);
            Directory.CreateDirectory(dir);
            int layer = int.Parse(site.Split('.')[0]);
            string kind = site.Split('.')[1];
            string hook = kind == "mlp" ? $"blocks.{layer}.hook_mlp_out" : $"blocks.{layer}.hook_resid_post";
            double l0 = k ?? 11.5 + layer;
            double fvu = Math.Round(0.9 / Math.Sqrt(l0) * Math.Pow(128.0 / width, 0.25) * (1 + 0.3 * layer), 4);
            double delta = Math.Round(fvu * 0.6, 4);
            double dead = width == 256 ? 0.0625 : 0.015625;

            Json(Path.Combine(dir, "cfg.json"), Cfg(name, arch, width, k, layer, kind, hook));
            Json(Path.Combine(dir, "metrics.json"), new JsonObject
            {
                ["l0"] = l0 + 0.2, ["fvu"] = fvu + 0.01, ["explained_variance"] = 1 - fvu - 0.01, ["mse"] = fvu * 0.08,
                ["dead_fraction"] = dead, ["eval_tokens"] = 32768, ["tokens"] = 204800, ["steps"] = 200, ["tokens_per_s"] = 5000, ["train_seconds"] = 40.9,
            });
            Json(Path.Combine(dir, "eval.json"), Eval(dir, arch, width, k, hook, layer, kind, l0, fvu, delta, dead));
            Json(Path.Combine(dir, "latents.json"), Latents(dir, width, name));
            File.WriteAllLines(Path.Combine(dir, "train_log.jsonl"), TrainLog(l0, fvu).Append("{\"step\": 20"));

            // the same SAE in another format: not an SAE of its own
            Directory.CreateDirectory(Path.Combine(dir, "gemmascope"));
            Json(Path.Combine(dir, "gemmascope", "cfg.json"), Cfg(name + "-gemmascope", arch, width, k, layer, kind, hook));
            Json(Path.Combine(dir, "gemmascope", "metrics.json"), new JsonObject { ["l0"] = l0 });
        }
        Directory.CreateDirectory(Path.Combine(root, "checkpoint", "1.res"));
        Json(Path.Combine(root, "checkpoint", "1.res", "cfg.json"), Cfg("stale", "topk", 128, 4, 1, "res", "blocks.1.hook_resid_post"));
        Json(Path.Combine(root, "checkpoint", "1.res", "metrics.json"), new JsonObject { ["l0"] = 4 });
    }

    /// <summary>cfg.json in SAELens v6's layout with our <c>saecluster</c> block.</summary>
    public static JsonObject Cfg(string name, string arch, int width, int? k, int layer, string site, string hook) => new()
    {
        ["d_in"] = DIn, ["d_sae"] = width, ["architecture"] = arch == "jumprelu" ? "jumprelu" : "topk", ["k"] = k,
        ["dtype"] = "float32", ["device"] = "cpu", ["apply_b_dec_to_input"] = arch != "jumprelu", ["normalize_activations"] = "none",
        ["reshape_activations"] = "none",
        ["metadata"] = new JsonObject
        {
            ["model_name"] = "tiny-gemma2-code", ["hook_name"] = hook, ["hook_head_index"] = null, ["context_size"] = 128,
            ["prepend_bos"] = true, ["dataset_path"] = "/usr/lib/python3.11/json/*.py", ["sae_lens_training_version"] = null,
        },
        ["saecluster"] = new JsonObject
        {
            ["name"] = name, ["architecture"] = arch, ["k"] = k, ["l1_coefficient"] = null, ["l0_coefficient"] = arch == "jumprelu" ? 1e-3 : null,
            ["lr"] = 2e-3, ["lr_from"] = "default", ["batch_size"] = 1024, ["tokens"] = 204800, ["seed"] = 0, ["site"] = site, ["layer"] = layer,
        },
    };

    static JsonObject Eval(string dir, string arch, int width, int? k, string hook, int layer, string site, double l0, double fvu, double delta, double dead)
    {
        double[] edges = [.. Enumerable.Range(0, 17).Select(i => -8 + i * 0.5)];
        int deadCount = (int)(dead * width);
        var counts = new int[16];
        int alive = width - deadCount;
        for (int i = 0; i < alive; i++) counts[Math.Min(15, 5 + (int)(10 * Math.Sqrt((i + 0.5) / alive)))]++; // most latents between 1e-3 and 1e-1
        var buckets = new JsonArray();
        for (int from = 1; from < 128; from *= 2)
            buckets.Add(new JsonObject
            {
                ["from"] = from, ["to"] = from * 2, ["tokens"] = 128 * from,
                ["fvu"] = Math.Round(fvu * (1 + 1.5 / from), 4), ["delta_loss"] = Math.Round(delta * (1 + 2.0 / from), 4),
            });
        double ceClean = 1.23, ceZero = 3.9;
        return new JsonObject
        {
            ["sae"] = dir, ["format"] = "saelens", ["architecture"] = arch, ["d_in"] = DIn, ["d_sae"] = width, ["k"] = k,
            ["hook"] = hook, ["layer"] = layer, ["site"] = site, ["model"] = "/work/models/tiny-gemma2-code",
            ["corpus"] = "/usr/lib/python3.11/json/*.py", ["tokens"] = 16384, ["context"] = 128,
            ["include_special"] = false, ["special_positions_skipped"] = SpecialPositionsSkipped,
            ["l0"] = l0, ["l0_quantiles"] = new JsonObject { ["p10"] = Math.Floor(l0 * 0.7), ["p50"] = l0, ["p90"] = Math.Ceiling(l0 * 1.3) },
            ["l0_histogram"] = new JsonObject { ["edges"] = new JsonArray(0, 1, 2, 4, 8, 16, 32, 64), ["counts"] = new JsonArray(0, 3, 40, 900, 15000, 441, 0) },
            ["fvu"] = fvu, ["explained_variance"] = 1 - fvu, ["mse"] = fvu * 0.08, ["dead_fraction"] = dead,
            ["firing_density_histogram"] = new JsonObject
            {
                ["edges_log10"] = new JsonArray([.. edges.Select(e => (JsonNode?)e)]),
                ["counts"] = new JsonArray([.. counts.Select(c => (JsonNode?)c)]),
                ["dead"] = deadCount,
            },
            ["ce_clean"] = ceClean, ["ce_sae"] = ceClean + delta, ["ce_zero"] = ceZero, ["delta_loss"] = delta,
            ["ce_loss_score"] = Math.Round(1 - delta / (ceZero - ceClean), 4), ["kl"] = Math.Round(delta * 0.7, 4),
            ["by_position"] = buckets,
        };
    }

    static JsonObject Latents(string dir, int width, string name)
    {
        string[] code = ["def", " parse", "(", "s", ",", " *", "args", "):", "\n", "    ", "return", " s"];
        string[] tricky = ["x", " &", " \"q\"", " <", "b", ">", MarkupToken, "\t", "'s", " &amp;", "\n\n", "end"];
        var latents = new JsonArray();
        string[] kinds = ["sample", "densest", "rarest"];
        for (int j = 0; j < LatentsPerSae; j++)
        {
            int index = (17 + 41 * j + name.Length) % width;
            double max = 3.2 - j;
            var examples = new JsonArray();
            foreach (var tokens in new[] { tricky, code })
            {
                int at = (j * 3 + tokens.Length / 2) % Window;
                double[] acts = [.. Enumerable.Range(0, Window).Select(i => i == at ? max : i == at - 1 || i == at + 1 ? Math.Round(max / 3, 3) : 0)];
                examples.Add(new JsonObject
                {
                    ["tokens"] = new JsonArray([.. tokens.Select(t => (JsonNode?)t)]),
                    ["activations"] = new JsonArray([.. acts.Select(a => (JsonNode?)a)]),
                    ["max_at"] = at, ["max"] = max,
                });
                max = Math.Round(max * 0.8, 3);
            }
            latents.Add(new JsonObject { ["index"] = index, ["kind"] = kinds[j], ["density"] = 0.01 / (j + 1), ["max_activation"] = 3.2 - j, ["examples"] = examples });
        }
        return new JsonObject { ["sae"] = dir, ["window"] = Window, ["latents"] = latents };
    }

    static IEnumerable<string> TrainLog(double l0, double fvu)
    {
        for (int step = 1; step <= Steps; step++)
        {
            double progress = step / (double)Steps;
            yield return new JsonObject
            {
                ["step"] = step * 25, ["tokens"] = step * 25 * 1024, ["loss"] = Math.Round(fvu * (1 + 3 * (1 - progress)), 5),
                ["mse"] = Math.Round(fvu * 0.08 * (1 + 3 * (1 - progress)), 5), ["sparsity_loss"] = 0, ["auxk_loss"] = 0.01,
                ["l0"] = Math.Round(l0 * (1 + (1 - progress)), 3), ["fvu"] = Math.Round(fvu * (1 + 3 * (1 - progress)), 5),
                ["dead_fraction"] = 0.01, ["lr"] = 0.002, ["tokens_per_s"] = 5000,
            }.ToJsonString();
        }
    }

    static void Json(string path, JsonObject o) => File.WriteAllText(path, o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
}
