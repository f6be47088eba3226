using System.Text.Json;
using System.Text.Json.Nodes;

namespace SaeCluster.Sae;

/// <summary>
/// Writes one trained SAE as a folder that SAELens loads: <c>cfg.json</c> (v6), <c>sae_weights.safetensors</c>,
/// <c>sparsity.safetensors</c> (log10 firing density per latent), beside our <c>metrics.json</c> and
/// <c>train_log.jsonl</c> (the training curve); each further format asked for goes in a subfolder named after it
/// (<c>gemmascope/params.npz</c>, <c>dictlearn/ae.pt</c>, <c>sparsify/&lt;hookpoint&gt;/</c>, <c>functiongemma/sae_layer_NN.pt</c>).
/// The folder is assembled under a temporary name and renamed into place, so it is either complete or absent.
/// </summary>
public static class SaeOutputWriter
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Write(string folder, SaeLearner learner, MultiSaeTrainer trainer, SaeEvaluation eval, double tokensPerSecond,
        string? trainLog = null, IReadOnlyList<SaeFormat>? formats = null)
    {
        var c = learner.Config;
        var meta = trainer.Source.Metadata;
        var weights = SaeWeights.From(learner, trainer.NormScale) with
        {
            Provenance = new SaeProvenance(
                ModelName: meta.GetValueOrDefault("model"),
                HookName: meta.GetValueOrDefault("hook_name"),
                ContextSize: int.TryParse(meta.GetValueOrDefault("context_size"), out int ctx) ? ctx : null,
                DatasetPath: meta.GetValueOrDefault("corpus") ?? meta.GetValueOrDefault("dataset_path")),
            HookZ = meta.GetValueOrDefault("site") == "att", // the heads before o_proj: SAELens reshapes [.., heads, d_head] inputs
            LogSparsity = eval.FiringCounts.Select(n => (float)Math.Log10(n / (double)Math.Max(1, eval.Tokens) + 1e-10)).ToArray(),
        };
        StagedFolder.Write(folder, tmp =>
        {
            var ours = new JsonObject
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
                ["site"] = meta.GetValueOrDefault("site"),
                ["layer"] = int.TryParse(meta.GetValueOrDefault("layer"), out int layer) ? layer : null,
                ["activations"] = meta.GetValueOrDefault("dataset_path"),
            };
            if (c.Architecture == SaeArchitecture.BatchTopK) ours["batch_threshold"] = weights.SharedThreshold;
            SaeLensFormat.Write(weights, tmp, new JsonObject { ["saecluster"] = ours });
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
            if (trainLog != null && File.Exists(trainLog)) File.Copy(trainLog, Path.Combine(tmp, "train_log.jsonl"));
            // each further format the architecture has a form in (a sweep's formats were checked against its SAEs when it was read)
            foreach (var f in (formats ?? []).Where(f => f != SaeFormat.SaeLens && SaeFiles.CannotWrite(weights, f) == null).Distinct())
            {
                string sub = Path.Combine(tmp, f.ToName());
                Directory.CreateDirectory(sub);
                SaeFiles.WriteInto(weights, f, sub, f == SaeFormat.FunctionGemma ? TrainingHistory.FromLog(trainLog) : null);
            }
            return folder;
        });
    }
}
