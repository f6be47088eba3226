using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SaeCluster.Compute;
using SaeCluster.Models;
using SaeCluster.Sae;
using YamlDotNet.RepresentationModel;

namespace SaeCluster.Grains;

/// <summary>
/// A sweep: one model, one corpus, a set of (layer, site) pairs, and the SAE families trained on every
/// site, with the training and storage settings of the run. Parsed from YAML (examples/*.yaml) and
/// validated completely at parse time — the model folder and its config, the corpus patterns, layers,
/// kinds, context length, every SAE and training setting — so a submitted sweep cannot fail later on
/// a typo. Every error is one <see cref="ConfigException"/> naming the file, the field and its line.
/// Relative paths are relative to the YAML file; the spec holds them absolute.
/// <para>Immutable. Two specs are equal when their canonical YAML (<see cref="ToYaml"/>) is equal;
/// <see cref="Model"/> is read from <see cref="ModelDir"/> and not compared.</para>
/// </summary>
public sealed partial record SweepSpec
{
    static readonly string[] TopKeys = ["name", "model", "corpus", "context", "tokens", "eval_tokens", "model_eval", "sites", "saes", "training", "storage"];
    static readonly string[] ModelEvalKeys = ["paths", "text_field", "tokens"];
    static readonly string[] CorpusKeys = ["paths", "text_field"];
    static readonly string[] SiteKeys = ["layers", "kinds"];
    static readonly string[] TrainingKeys = ["batch", "seed", "precision", "checkpoint_every", "log_every", "normalize", "dead_tokens", "shuffle_shards"];
    static readonly string[] StorageKeys = ["shard_dtype", "contexts_per_shard", "shards_per_producer", "keep_shards", "model_precision", "formats"];

    /// <summary>Sweep name: [a-z0-9][a-z0-9-]{0,39} (used in actor keys and folder names).</summary>
    public string Name { get; }
    /// <summary>Hugging Face checkpoint folder (absolute).</summary>
    public string ModelDir { get; }
    /// <summary>The model's config.json, read at parse time.</summary>
    public GemmaConfig Model { get; }
    /// <summary>The model's max_position_embeddings (the largest <see cref="Context"/>).</summary>
    public int ModelMaxPositions { get; }
    /// <summary>Corpus files, folders or globs as <see cref="CorpusDocuments.FromPatterns"/> takes them (absolute).</summary>
    public IReadOnlyList<string> CorpusPaths { get; }
    /// <summary>JSONL field or Parquet column holding a document's text (Parquet files are checked for it at parse time).</summary>
    public string TextField { get; }
    /// <summary>Tokens per packed context (BOS first; BOS positions are not trained on).</summary>
    public int Context { get; }
    /// <summary>Held-out tokens each SAE is evaluated on (= <see cref="TrainingConfig.EvalTokens"/>).</summary>
    public long EvalTokens => Training.EvalTokens;
    /// <summary>Layers and kinds selected; <see cref="Sites"/> is their product.</summary>
    public IReadOnlyList<int> Layers { get; }
    public IReadOnlyList<HookSite> Kinds { get; }
    /// <summary>Every (layer, site) trained, ordered by layer then kind.</summary>
    public IReadOnlyList<(int Layer, HookSite Site)> Sites { get; }
    /// <summary>The SAEs trained on every site and the training settings (tokens per SAE, batch, …).</summary>
    public TrainingConfig Training { get; }
    /// <summary>Consecutive shards shuffled together while streaming.</summary>
    public int ShuffleShards { get; }
    public SafetensorsDtype ShardDtype { get; }
    public int ContextsPerShard { get; }
    /// <summary>Each producer actor owns this many consecutive shards.</summary>
    public int ShardsPerProducer { get; }
    /// <summary>False: a site's shards are deleted once its trainer is done.</summary>
    public bool KeepShards { get; }
    /// <summary>Matmul precision of the producer's forward pass.</summary>
    public EncoderPrecision ModelPrecision { get; }
    /// <summary>
    /// The in-model evaluation of every SAE (delta LM loss, CE loss score, …) once its site is trained: tokens of
    /// held-out text (0: none), from <see cref="ModelEvalPaths"/> — or, when that is empty, from the corpus after the
    /// contexts the producers may use.
    /// </summary>
    public long ModelEvalTokens { get; }
    public IReadOnlyList<string> ModelEvalPaths { get; }
    public string ModelEvalTextField { get; }
    /// <summary>Contexts of the corpus the evaluation skips when it reads the training corpus: every context a producer may use.</summary>
    public long TrainingContexts => (long)EstimatedProducers * ShardsPerProducer * ContextsPerShard;

    /// <summary>Tokens each site's producers must write: training plus evaluation.</summary>
    public long ProducedTokens => Training.Tokens + EvalTokens;
    /// <summary>
    /// Shards per site (chunks) that hold <see cref="ProducedTokens"/> at (context − 1) trainable tokens per context,
    /// plus a margin of 10% + 1 (producers write whole shards; some documents end early).
    /// </summary>
    public int EstimatedShards { get; }
    /// <summary>Producer actors: <see cref="EstimatedShards"/> in runs of <see cref="ShardsPerProducer"/> (a producer writes its shards of every site).</summary>
    public int EstimatedProducers => (EstimatedShards + ShardsPerProducer - 1) / ShardsPerProducer;

    readonly string _canonical;

    SweepSpec(string name, string modelDir, GemmaConfig model, int maxPositions, IReadOnlyList<string> corpusPaths, string textField,
        int context, IReadOnlyList<int> layers, IReadOnlyList<HookSite> kinds, TrainingConfig training, int shuffleShards,
        SafetensorsDtype shardDtype, int contextsPerShard, int shardsPerProducer, bool keepShards, EncoderPrecision modelPrecision, int estimatedShards,
        long modelEvalTokens, IReadOnlyList<string> modelEvalPaths, string modelEvalTextField)
    {
        ModelEvalTokens = modelEvalTokens; ModelEvalPaths = modelEvalPaths.ToArray(); ModelEvalTextField = modelEvalTextField;
        Name = name; ModelDir = modelDir; Model = model; ModelMaxPositions = maxPositions;
        CorpusPaths = corpusPaths.ToArray(); TextField = textField; Context = context;
        Layers = layers.ToArray(); Kinds = kinds.ToArray();
        Sites = (from l in Layers from k in Kinds select (l, k)).ToArray();
        Training = training; ShuffleShards = shuffleShards; ShardDtype = shardDtype; ContextsPerShard = contextsPerShard;
        ShardsPerProducer = shardsPerProducer; KeepShards = keepShards; ModelPrecision = modelPrecision; EstimatedShards = estimatedShards;
        _canonical = BuildYaml();
    }

    public bool Equals(SweepSpec? other) => other is not null && _canonical == other._canonical;

    public override int GetHashCode() => _canonical.GetHashCode();

    /// <summary>Reads and validates a sweep YAML; relative paths are relative to its folder.</summary>
    public static SweepSpec Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException(path, "no such file");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigException(path, $"cannot be read ({e.Message})"); }
        return Parse(text, Path.GetDirectoryName(Path.GetFullPath(path))!, path);
    }

    /// <summary>
    /// Parses and validates sweep YAML text. Relative paths resolve against <paramref name="baseDirectory"/>;
    /// <paramref name="source"/> names the text in errors (the file path, usually).
    /// </summary>
    public static SweepSpec Parse(string yamlText, string baseDirectory, string source)
    {
        var root = YamlFields.ReadRoot(new StringReader(yamlText), source, "name:, model:, corpus:, context:, tokens:, sites:, saes: …");
        try { return FromYaml(new YamlFields(root, "", TopKeys), Path.GetFullPath(baseDirectory)); }
        catch (ConfigException e) { throw YamlFields.InFile(e, source); }
    }

    /// <summary>
    /// The spec as canonical YAML: absolute paths, every default written out, SAE families expanded to one
    /// entry per SAE with every field explicit. <c>Parse(spec.ToYaml(), "/", …)</c> gives an equal spec.
    /// </summary>
    public string ToYaml() => _canonical;

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,39}$")]
    private static partial Regex NamePattern();

    static SweepSpec FromYaml(YamlFields top, string baseDir)
    {
        // name
        string name = top.String("name") ?? throw new ConfigException("name", "is required ([a-z0-9][a-z0-9-]{0,39})");
        if (!NamePattern().IsMatch(name))
            throw new ConfigException(top.Where("name"), $"'{name}' is not a sweep name (lower-case letters, digits and '-', starting with a letter or digit, at most 40 characters)");

        // model
        var (modelDir, model, maxPositions) = LoadModel(top, baseDir);

        // corpus
        var corpus = top.Block("corpus", CorpusKeys) ?? throw new ConfigException("corpus", "is required (paths: [files, folders or globs], text_field: …)");
        string textField = corpus.String("text_field") ?? "text";
        if (textField.Length == 0) throw new ConfigException(corpus.Where("text_field"), "must not be empty");
        var corpusPaths = CorpusPatterns(corpus, baseDir, textField);

        // context, tokens
        int context = top.Int("context") ?? throw new ConfigException("context", $"is required (tokens per packed context, 2 to {maxPositions})");
        if (context < 2 || context > maxPositions)
            throw new ConfigException(top.Where("context"), $"must be 2 to {maxPositions} (the model's max_position_embeddings) (got {context})");
        long tokens = top.Long("tokens") ?? throw new ConfigException("tokens", "is required (training tokens per SAE)");
        long evalTokens = top.Long("eval_tokens") ?? 262_144;

        // sites
        var sites = top.Block("sites", SiteKeys);
        var layers = ParseLayers(sites, model.Layers);
        var kinds = ParseKinds(sites);

        // SAEs and training
        var saes = SaeFamilies.Expand(top.Node("saes"), "saes");
        var tr = top.Block("training", TrainingKeys);
        long seed = tr?.Long("seed") ?? 0;
        if (seed < 0) throw new ConfigException(tr!.Where("seed"), $"must be ≥ 0 (got {seed})");
        var precision = PrecisionNames.ParseEncoder(tr?.String("precision"), Where(tr, "training.", "precision"));
        var st = top.Block("storage", StorageKeys);
        var formats = st?.StringList("formats")?.Select(f => SaeFormatNames.Parse(f, st.Where("formats"))).ToArray();
        TrainingConfig training;
        try
        {
            training = new TrainingConfig(saes, tokens,
                batchSize: tr?.Int("batch") ?? 4096,
                seed: (ulong)seed,
                logEvery: tr?.Int("log_every") ?? 50,
                checkpointEvery: tr?.Int("checkpoint_every") ?? 500,
                normalize: tr?.Bool("normalize") ?? true,
                deadTokens: tr?.Long("dead_tokens") ?? 10_000_000,
                precision: precision,
                evalTokens: evalTokens,
                formats: formats);
        }
        catch (ConfigException e)
        {
            // TrainingConfig names its parameters as in saectl train YAML; say where they are in a sweep
            string field = e.Field switch
            {
                "tokens" or "eval_tokens" or "saes" => top.Where(e.Field),
                "batch" or "log_every" or "checkpoint_every" or "dead_tokens" => Where(tr, "training.", e.Field),
                "formats" => Where(st, "storage.", e.Field),
                _ => e.Field,
            };
            throw new ConfigException(field, e.Message[(e.Field.Length + 2)..]);
        }
        int shuffleShards = tr?.Int("shuffle_shards") ?? 4;
        if (shuffleShards < 1) throw new ConfigException(tr!.Where("shuffle_shards"), $"must be ≥ 1 (got {shuffleShards})");

        // storage
        var shardDtype = st?.Has("shard_dtype") == true ? PrecisionNames.ParseStorageDtype(st.String("shard_dtype"), st.Where("shard_dtype")) : SafetensorsDtype.BF16;
        int contextsPerShard = st?.Int("contexts_per_shard") ?? 64;
        if (contextsPerShard < 1) throw new ConfigException(st!.Where("contexts_per_shard"), $"must be ≥ 1 (got {contextsPerShard})");
        int shardsPerProducer = st?.Int("shards_per_producer") ?? 8;
        if (shardsPerProducer < 1) throw new ConfigException(st!.Where("shards_per_producer"), $"must be ≥ 1 (got {shardsPerProducer})");
        bool keepShards = st?.Bool("keep_shards") ?? true;
        var modelPrecision = PrecisionNames.ParseEncoder(st?.String("model_precision"), Where(st, "storage.", "model_precision"));

        // shards per site: whole contexts of (context − 1) trainable tokens, whole shards, 10% + 1 margin
        long perShard = (long)contextsPerShard * (context - 1);
        long produced = training.Tokens + training.EvalTokens;
        long needed = (produced + perShard - 1) / perShard;
        long estimated = needed + (needed + 9) / 10 + 1;
        if (estimated > int.MaxValue)
            throw new ConfigException(top.Where("tokens"), $"{produced:N0} tokens need {estimated:N0} shards per site; raise storage.contexts_per_shard");

        // the in-model evaluation
        var me = top.Block("model_eval", ModelEvalKeys);
        long meTokens = me?.Long("tokens") ?? 16_384;
        if (meTokens < 0) throw new ConfigException(me!.Where("tokens"), $"must be ≥ 0 (got {meTokens})");
        string meField = me?.String("text_field") ?? textField;
        var mePaths = me?.Has("paths") == true ? CorpusPatterns(me, baseDir, meField) : [];

        return new SweepSpec(name, modelDir, model, maxPositions, corpusPaths, textField, context, layers, kinds, training, shuffleShards,
            shardDtype, contextsPerShard, shardsPerProducer, keepShards, modelPrecision, (int)estimated, meTokens, mePaths, meField);
    }

    static string Where(YamlFields? block, string prefix, string key) => block?.Where(key) ?? prefix + key;

    static (string Dir, GemmaConfig Config, int MaxPositions) LoadModel(YamlFields top, string baseDir)
    {
        string rel = top.String("model") ?? throw new ConfigException("model", "is required (a Hugging Face checkpoint folder: config.json, model.safetensors, tokenizer.json)");
        string where = top.Where("model");
        if (rel.Length == 0) throw new ConfigException(where, "must not be empty");
        string dir = Path.GetFullPath(Path.Combine(baseDir, rel));
        if (!Directory.Exists(dir)) throw new ConfigException(where, $"{dir}: no such folder");
        string configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new ConfigException(where, $"{dir} has no config.json (not a Hugging Face checkpoint folder)");
        GemmaConfig config;
        int maxPositions;
        try
        {
            config = GemmaConfig.Load(configPath);
            maxPositions = MaxPositions(configPath, config);
        }
        catch (ModelFormatException e) { throw new ConfigException(where, e.Message); }
        if (!File.Exists(Path.Combine(dir, "model.safetensors")) && !File.Exists(Path.Combine(dir, "model.safetensors.index.json")))
            throw new ConfigException(where, $"{dir} holds neither model.safetensors nor model.safetensors.index.json");
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
            throw new ConfigException(where, $"{dir} has no tokenizer.json");
        return (dir, config, maxPositions);
    }

    // max_position_embeddings of the text model (top level, or text_config for multimodal Gemma 3);
    // when absent, the release default of the family
    static int MaxPositions(string configPath, GemmaConfig config)
    {
        var root = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        var node = (root["text_config"] as JsonObject)?["max_position_embeddings"] ?? root["max_position_embeddings"];
        if (node == null) return config.Version == GemmaVersion.Gemma3 ? 131_072 : 8192;
        if (node is JsonValue v && v.TryGetValue(out int i) && i > 0) return i;
        if (node is JsonValue d && d.TryGetValue(out double x) && x == Math.Floor(x) && x is > 0 and <= int.MaxValue) return (int)x;
        throw new ModelFormatException(configPath, $"max_position_embeddings must be a positive integer (got {node.ToJsonString()})");
    }

    // expands every pattern (it must match a file) and checks the text column of its Parquet files (their footers only)
    static string[] CorpusPatterns(YamlFields corpus, string baseDir, string textField)
    {
        var raw = corpus.StringList("paths") ?? throw new ConfigException(corpus.Where("paths"), "is required (files, folders or globs such as data/**/*.jsonl)");
        if (raw.Length == 0) throw new ConfigException(corpus.Where("paths"), "lists no path");
        var items = corpus.Node("paths") as YamlSequenceNode;
        var result = new List<string>();
        for (int i = 0; i < raw.Length; i++)
        {
            string where = items == null ? corpus.Where("paths") : $"{corpus.Prefix}paths[{i}] (line {items.Children[i].Start.Line})";
            if (raw[i].Trim().Length == 0) throw new ConfigException(where, "is empty");
            string pattern = Path.GetFullPath(Path.Combine(baseDir, raw[i]));
            IReadOnlyList<string> files;
            try
            {
                files = CorpusFiles.Expand(pattern);
                new CorpusDocuments(files, textField).CheckParquetColumns();
            }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException) { throw new ConfigException(where, e.Message); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigException(where, $"{pattern}: {e.Message}"); }
            if (files.Count == 0) throw new ConfigException(where, $"{pattern}: holds no file");
            if (!result.Contains(pattern)) result.Add(pattern);
        }
        return result.ToArray();
    }

    static int[] ParseLayers(YamlFields? sites, int modelLayers)
    {
        var node = sites?.Node("layers");
        if (node == null) return Enumerable.Range(0, modelLayers).ToArray();
        string where = sites!.Where("layers");
        IEnumerable<string> items = node switch
        {
            YamlScalarNode s => (s.Value ?? "").Split(',', StringSplitOptions.TrimEntries),
            YamlSequenceNode q => q.Children.Select(c => (c as YamlScalarNode)?.Value ?? throw new ConfigException(where, "list items must be layers or ranges")),
            _ => throw new ConfigException(where, "must be all, a list [0, 2, 5] or ranges \"0-3,7\""),
        };
        var set = new SortedSet<int>();
        foreach (var raw in items)
        {
            string item = raw.Trim().Replace("_", "");
            if (item == "all") { for (int l = 0; l < modelLayers; l++) set.Add(l); continue; }
            var ends = item.Split('-', StringSplitOptions.TrimEntries);
            if (ends.Length is < 1 or > 2 || !ends.All(e => int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new ConfigException(where, $"'{raw}' is not a layer, a range a-b, or all");
            int a = int.Parse(ends[0], CultureInfo.InvariantCulture), b = int.Parse(ends[^1], CultureInfo.InvariantCulture);
            if (a > b) throw new ConfigException(where, $"range {item} runs backwards");
            if (b >= modelLayers) throw new ConfigException(where, $"layer {b} does not exist (the model has layers 0-{modelLayers - 1})");
            for (int l = a; l <= b; l++) set.Add(l);
        }
        if (set.Count == 0) throw new ConfigException(where, "selects no layer");
        return set.ToArray();
    }

    static HookSite[] ParseKinds(YamlFields? sites)
    {
        var names = sites?.StringList("kinds");
        if (names == null) return [HookSite.Res];
        string where = sites!.Where("kinds");
        if (names.Length == 0) throw new ConfigException(where, "lists no kind (res, mlp, att, attn_out)");
        var set = new SortedSet<HookSite>();
        foreach (var n in names)
            set.Add(HookSites.TryParse(n, out var site) ? site : throw new ConfigException(where, $"unknown kind '{n}' (res, mlp, att, attn_out)"));
        return set.ToArray();
    }

    string BuildYaml()
    {
        var inv = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.Append("name: ").Append(Name).Append('\n');
        b.Append("model: ").Append(YamlFields.Quote(ModelDir)).Append('\n');
        b.Append("corpus:\n  paths:\n");
        foreach (var p in CorpusPaths) b.Append("    - ").Append(YamlFields.Quote(p)).Append('\n');
        b.Append("  text_field: ").Append(YamlFields.Quote(TextField)).Append('\n');
        b.Append("context: ").Append(Context.ToString(inv)).Append('\n');
        b.Append("tokens: ").Append(Training.Tokens.ToString(inv)).Append('\n');
        b.Append("eval_tokens: ").Append(EvalTokens.ToString(inv)).Append('\n');
        b.Append("model_eval:\n");
        b.Append("  tokens: ").Append(ModelEvalTokens.ToString(inv)).Append('\n');
        if (ModelEvalPaths.Count > 0)
        {
            b.Append("  paths:\n");
            foreach (var p in ModelEvalPaths) b.Append("    - ").Append(YamlFields.Quote(p)).Append('\n');
        }
        b.Append("  text_field: ").Append(YamlFields.Quote(ModelEvalTextField)).Append('\n');
        b.Append("sites:\n");
        b.Append("  layers: [").Append(string.Join(", ", Layers.Select(l => l.ToString(inv)))).Append("]\n");
        b.Append("  kinds: [").Append(string.Join(", ", Kinds.Select(k => k.Name()))).Append("]\n");
        b.Append("saes:\n");
        foreach (var s in Training.Saes) b.Append(SaeFamilies.ToYaml(s, "  "));
        b.Append("training:\n");
        b.Append("  batch: ").Append(Training.BatchSize.ToString(inv)).Append('\n');
        b.Append("  seed: ").Append(Training.Seed.ToString(inv)).Append('\n');
        b.Append("  precision: ").Append(Training.Precision.ToName()).Append('\n');
        b.Append("  checkpoint_every: ").Append(Training.CheckpointEvery.ToString(inv)).Append('\n');
        b.Append("  log_every: ").Append(Training.LogEvery.ToString(inv)).Append('\n');
        b.Append("  normalize: ").Append(Training.Normalize ? "true" : "false").Append('\n');
        b.Append("  dead_tokens: ").Append(Training.DeadTokens.ToString(inv)).Append('\n');
        b.Append("  shuffle_shards: ").Append(ShuffleShards.ToString(inv)).Append('\n');
        b.Append("storage:\n");
        b.Append("  shard_dtype: ").Append(PrecisionNames.StorageName(ShardDtype)).Append('\n');
        b.Append("  contexts_per_shard: ").Append(ContextsPerShard.ToString(inv)).Append('\n');
        b.Append("  shards_per_producer: ").Append(ShardsPerProducer.ToString(inv)).Append('\n');
        b.Append("  keep_shards: ").Append(KeepShards ? "true" : "false").Append('\n');
        b.Append("  model_precision: ").Append(ModelPrecision.ToName()).Append('\n');
        b.Append("  formats: [").Append(string.Join(", ", Training.Formats.Select(f => f.ToName()))).Append("]\n");
        return b.ToString();
    }
}
