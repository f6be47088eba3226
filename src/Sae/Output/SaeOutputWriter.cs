using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// Writes one trained SAE as a folder: <c>sae.safetensors</c>, a SAELens-style <c>cfg.json</c>,
/// <c>metrics.json</c>, <c>sparsity.safetensors</c> (log10 firing density per latent) and
/// <c>train_log.jsonl</c> (the training curve). The folder is
/// assembled under a temporary name and renamed into place, so it is either complete or absent.
/// </summary>
public static class SaeOutputWriter
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Write(string folder, SaeLearner learner, MultiSaeTrainer trainer, SaeEvaluation eval, double tokensPerSecond, string? trainLog = null)
    {
        var c = learner.Config;
        var weights = SaeWeights.From(learner, trainer.NormScale);
        string parent = Path.GetDirectoryName(Path.GetFullPath(folder))!;
        Directory.CreateDirectory(parent);
        string tmp = Path.Combine(parent, $".{Path.GetFileName(folder)}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            weights.WriteSafetensors(Path.Combine(tmp, "sae.safetensors"), new Dictionary<string, string> { ["format"] = "pt" });
            var meta = trainer.Source.Metadata;
            var cfg = new JsonObject
            {
                ["architecture"] = weights.SavedArchitecture,
                ["d_in"] = weights.DIn,
                ["d_sae"] = weights.DSae,
                ["dtype"] = "float32",
                ["device"] = "cpu",
                ["apply_b_dec_to_input"] = false,
                ["normalize_activations"] = "none",
                ["metadata"] = new JsonObject
                {
                    ["model_name"] = meta.GetValueOrDefault("model"),
                    ["hook_name"] = meta.GetValueOrDefault("hook_name") ?? meta.GetValueOrDefault("site"),
                    ["context_size"] = int.TryParse(meta.GetValueOrDefault("context_size"), out int ctx) ? ctx : null,
                    ["prepend_bos"] = true,
                    ["dataset_path"] = meta.GetValueOrDefault("dataset_path"),
                },
                ["saecluster"] = new JsonObject
                {
                    ["name"] = c.Name,
                    ["architecture"] = c.Architecture.ToName(),
                    ["k"] = c.K > 0 ? c.K : null,
                    ["l1_coefficient"] = c.L1Coefficient > 0 ? c.L1Coefficient : null,
                    ["l0_coefficient"] = c.L0Coefficient > 0 ? c.L0Coefficient : null,
                    ["lr"] = learner.LearningRate,
                    ["lr_from"] = c.LearningRate is null ? "default" : "config", // the rule: saectl train --help, SaeConfig.LearningRateFor
                    ["batch_size"] = trainer.Config.BatchSize,
                    ["tokens"] = trainer.TokensTrained,
                    ["seed"] = trainer.Config.Seed,
                    ["norm_scale_folded"] = trainer.NormScale,
                },
            };
            if (c.Architecture == SaeArchitecture.TopK) cfg["k"] = c.K;
            File.WriteAllText(Path.Combine(tmp, "cfg.json"), cfg.ToJsonString(Indented));
            var metrics = new JsonObject
            {
                ["l0"] = eval.L0,
                ["fvu"] = eval.Fvu,
                ["explained_variance"] = eval.ExplainedVariance,
                ["mse"] = eval.Mse,
                ["dead_fraction"] = eval.DeadFraction,
                ["eval_tokens"] = eval.Tokens,
                ["tokens"] = trainer.TokensTrained,
                ["steps"] = trainer.Step,
                ["tokens_per_s"] = tokensPerSecond,
                ["train_seconds"] = trainer.TrainSeconds,
            };
            File.WriteAllText(Path.Combine(tmp, "metrics.json"), metrics.ToJsonString(Indented));
            var density = eval.FiringCounts.Select(n => (float)Math.Log10(Math.Max(n, 1e-10) / eval.Tokens)).ToArray();
            var sp = new SafetensorsWriter();
            sp.AddBorrowed("sparsity", density, [density.Length]);
            sp.Write(Path.Combine(tmp, "sparsity.safetensors"));
            if (trainLog != null && File.Exists(trainLog)) File.Copy(trainLog, Path.Combine(tmp, "train_log.jsonl"));
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
            Directory.Move(tmp, folder);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            throw;
        }
    }
}
