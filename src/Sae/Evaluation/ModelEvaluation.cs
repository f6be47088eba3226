using SaeCluster.Models;

namespace SaeCluster.Sae;

/// <summary>
/// SAEs evaluated on a model folder and a corpus: loads the model and tokenizer, matches every SAE to its site,
/// runs <see cref="SpliceEvaluation"/> over held-out contexts, and writes each SAE's eval.json / latents.json.
/// </summary>
public static class ModelEvaluation
{
    public static IReadOnlyList<SaeEvalResult> Run(string modelDir, IReadOnlyList<LoadedSae> saes, CorpusDocuments corpus, EvalOptions options,
        int? context = null, string? hook = null, long skipContexts = 0, bool bf16 = false,
        Action<SpliceEvaluation.Progress>? progress = null, CancellationToken ct = default)
    {
        string configPath = Path.Combine(modelDir, "config.json");
        var config = GemmaConfig.Load(configPath);
        var targets = saes.Select(s => EvalSae.For(s, config, hook)).ToArray();
        int T = context ?? targets.Select(t => t.Weights.Provenance.ContextSize).FirstOrDefault(c => c is > 1) ?? 128;
        if (T < 2) throw new ConfigException("--context", $"must be ≥ 2 (got {T})");
        var dup = targets.GroupBy(t => t.Folder).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ConfigException("--sae", $"{dup.Key} is given twice");
        var tokenizer = GemmaTokenizer.Load(Path.Combine(modelDir, "tokenizer.json"));
        var model = GemmaModel.Load(modelDir);
        model.Bf16Matmuls = bf16;
        var cache = new Dictionary<int, string>();
        string Text(int id) { lock (cache) return cache.TryGetValue(id, out var s) ? s : cache[id] = tokenizer.Decode([id]); }
        var contexts = HeldOutText.Contexts(corpus, tokenizer, config, T, options.Tokens, skipContexts, ct);
        var results = SpliceEvaluation.Run(model, contexts, targets, options, Text, progress, ct);
        foreach (var r in results) r.Write();
        return results;
    }
}
