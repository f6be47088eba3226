using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SaeCluster.Sae;

/// <summary>
/// A training YAML: shared settings plus a list of SAE families, each expanded over its lists
/// (widths × k, or × l1 / l0_coeff) into individual <see cref="SaeConfig"/>s. Paths are relative to the
/// file. Every problem is reported with the file, line and field; unknown keys are errors.
/// </summary>
public sealed record TrainConfigFile(TrainingConfig Training, string DataDir, string OutDir)
{
    static readonly string[] TopKeys = ["data", "out", "tokens", "batch", "seed", "precision", "checkpoint_every", "log_every",
        "normalize", "dead_tokens", "eval_tokens", "shuffle_block", "saes"];
    static readonly string[] SaeKeys = ["name", "arch", "width", "widths", "k", "l1", "l0_coeff", "lr", "beta1", "beta2", "eps",
        "warmup_steps", "decay_fraction", "sparsity_warmup_steps", "auxk_alpha", "auxk", "threshold_init", "bandwidth",
        "threshold_beta", "threshold_start_step"];

    public static TrainConfigFile Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException(path, "no such file");
        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            yaml.Load(reader);
        }
        catch (YamlException e) { throw new ConfigException($"{path}:{e.Start.Line}", $"malformed YAML: {e.InnerException?.Message ?? e.Message}"); }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException(path, "must be a YAML mapping (data:, out:, tokens:, saes: …)");
        try { return Parse(root, Path.GetDirectoryName(Path.GetFullPath(path))!); }
        catch (ConfigException e) when (!e.Field.StartsWith(path)) { throw new ConfigException($"{path}: {e.Field}", e.Message[(e.Field.Length + 2)..]); }
    }

    static TrainConfigFile Parse(YamlMappingNode root, string baseDir)
    {
        var top = new Fields(root, "", TopKeys);
        string data = Path.GetFullPath(Path.Combine(baseDir, top.String("data") ?? throw new ConfigException("data", "is required (the folder of activation shards)")));
        string outDir = Path.GetFullPath(Path.Combine(baseDir, top.String("out") ?? throw new ConfigException("out", "is required (the output folder)")));
        if (!root.Children.TryGetValue(new YamlScalarNode("saes"), out var saesNode) || saesNode is not YamlSequenceNode seq || seq.Children.Count == 0)
            throw new ConfigException("saes", "is required: a list of SAE families (arch:, width:, k: / l1: / l0_coeff:)");
        var saes = new List<SaeConfig>();
        for (int i = 0; i < seq.Children.Count; i++)
        {
            string field = $"saes[{i}]";
            if (seq.Children[i] is not YamlMappingNode m) throw new ConfigException(field, "must be a mapping");
            saes.AddRange(ExpandFamily(new Fields(m, field + ".", SaeKeys), field));
        }
        var precision = (top.String("precision") ?? "auto").ToLowerInvariant() switch
        {
            "auto" => EncoderPrecision.Auto,
            "fp32" or "float32" => EncoderPrecision.Float32,
            "bf16" or "bfloat16" => EncoderPrecision.BFloat16,
            var p => throw new ConfigException("precision", $"unknown precision '{p}' (auto, fp32 or bf16)"),
        };
        var training = new TrainingConfig(saes,
            tokens: top.Long("tokens") ?? throw new ConfigException("tokens", "is required (training tokens per SAE)"),
            batchSize: (int)(top.Long("batch") ?? 4096),
            seed: (ulong)(top.Long("seed") ?? 0),
            shuffleBlock: (int)(top.Long("shuffle_block") ?? (1 << 18)),
            logEvery: (int)(top.Long("log_every") ?? 50),
            checkpointEvery: (int)(top.Long("checkpoint_every") ?? 500),
            normalize: top.Bool("normalize") ?? true,
            deadTokens: top.Long("dead_tokens") ?? 10_000_000,
            precision: precision,
            evalTokens: top.Long("eval_tokens") ?? 262_144);
        return new TrainConfigFile(training, data, outDir);
    }

    static IEnumerable<SaeConfig> ExpandFamily(Fields f, string field)
    {
        var arch = SaeArchitectureNames.Parse(f.String("arch") ?? throw new ConfigException(field + ".arch", "is required (relu, topk, batchtopk or jumprelu)"), field + ".arch");
        var widths = f.LongList("widths") ?? f.LongList("width") ?? throw new ConfigException(field + ".width", "is required (or widths: [..])");
        var ks = f.LongList("k") ?? [0];
        var l1s = f.DoubleList("l1") ?? [0];
        var l0s = f.DoubleList("l0_coeff") ?? [0];
        string? name = f.String("name");
        var combos = (from w in widths from k in ks from l1 in l1s from l0 in l0s select (w, k, l1, l0)).ToArray();
        if (name != null && combos.Length > 1) throw new ConfigException(field + ".name", $"names one SAE but the family expands to {combos.Length}; drop name: to get generated names");
        foreach (var (w, k, l1, l0) in combos)
        {
            if (w > int.MaxValue) throw new ConfigException(field + ".width", $"{w} is too large");
            yield return new SaeConfig(arch, (int)w, (int)k, (float)l1, (float)l0,
                lr: f.Float("lr"), beta1: f.Float("beta1"), beta2: f.Float("beta2") ?? 0.999f, epsilon: f.Float("eps"),
                warmupSteps: (int)(f.Long("warmup_steps") ?? 1000), decayFraction: f.Float("decay_fraction") ?? 0.2f,
                sparsityWarmupSteps: (int)(f.Long("sparsity_warmup_steps") ?? -1), auxKCoefficient: f.Float("auxk_alpha") ?? 1f / 32,
                auxK: (int)(f.Long("auxk") ?? 0), thresholdInit: f.Float("threshold_init") ?? 0.001f, bandwidth: f.Float("bandwidth") ?? 0.001f,
                thresholdBeta: f.Float("threshold_beta") ?? 0.999f, thresholdStartStep: (int)(f.Long("threshold_start_step") ?? 1000),
                name: name, field: field);
        }
    }

    /// <summary>Typed access to a mapping's scalar fields, with errors naming field and line.</summary>
    sealed class Fields
    {
        readonly Dictionary<string, YamlNode> _map = new();
        readonly string _prefix;

        public Fields(YamlMappingNode node, string prefix, string[] allowed)
        {
            _prefix = prefix;
            foreach (var (k, v) in node.Children)
            {
                string key = (k as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(key))
                    throw new ConfigException($"{prefix}{key} (line {k.Start.Line})", $"unknown field (allowed: {string.Join(", ", allowed)})");
                _map[key] = v;
            }
        }

        string Where(string key) => $"{_prefix}{key} (line {_map[key].Start.Line})";

        string? Scalar(string key)
        {
            if (!_map.TryGetValue(key, out var n)) return null;
            if (n is not YamlScalarNode s) throw new ConfigException(Where(key), "must be a single value");
            return s.Value;
        }

        public string? String(string key) => Scalar(key);

        public long? Long(string key)
        {
            string? s = Scalar(key);
            if (s == null) return null;
            if (long.TryParse(s.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)) return v;
            if (double.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double dv) && dv == Math.Floor(dv) && Math.Abs(dv) < 9e18) return (long)dv;
            throw new ConfigException(Where(key), $"'{s}' is not an integer");
        }

        public float? Float(string key)
        {
            string? s = Scalar(key);
            if (s == null) return null;
            if (float.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)) return v;
            throw new ConfigException(Where(key), $"'{s}' is not a number");
        }

        public bool? Bool(string key)
        {
            string? s = Scalar(key);
            return s?.ToLowerInvariant() switch
            {
                null => null,
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                _ => throw new ConfigException(Where(key), $"'{s}' is not true or false"),
            };
        }

        IEnumerable<string>? Items(string key)
        {
            if (!_map.TryGetValue(key, out var n)) return null;
            return n switch
            {
                YamlScalarNode s => [s.Value ?? ""],
                YamlSequenceNode q => q.Children.Select(c => (c as YamlScalarNode)?.Value ?? throw new ConfigException(Where(key), "list items must be values")),
                _ => throw new ConfigException(Where(key), "must be a value or a list"),
            };
        }

        public long[]? LongList(string key) => Items(key)?.Select(s =>
            long.TryParse(s.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v
            : throw new ConfigException(Where(key), $"'{s}' is not an integer")).ToArray();

        public double[]? DoubleList(string key) => Items(key)?.Select(s =>
            double.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
            : throw new ConfigException(Where(key), $"'{s}' is not a number")).ToArray();
    }
}
