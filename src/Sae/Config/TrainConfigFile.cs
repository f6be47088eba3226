namespace SaeCluster.Sae;

/// <summary>
/// A training YAML: shared settings plus a list of SAE families, each expanded over its lists
/// (widths × k, or × l1 / l0_coeff) into individual <see cref="SaeConfig"/>s (<see cref="SaeFamilies"/>).
/// Paths are relative to the file. Every problem is reported with the file, line and field; unknown keys
/// are errors.
/// </summary>
public sealed record TrainConfigFile(TrainingConfig Training, string DataDir, string OutDir)
{
    static readonly string[] TopKeys = ["data", "out", "tokens", "batch", "seed", "precision", "checkpoint_every", "log_every",
        "normalize", "dead_tokens", "eval_tokens", "shuffle_block", "formats", "saes"];

    public static TrainConfigFile Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException(path, "no such file");
        YamlDotNet.RepresentationModel.YamlMappingNode root;
        using (var reader = new StreamReader(path))
            root = YamlFields.ReadRoot(reader, path, "data:, out:, tokens:, saes: …");
        try { return Parse(new YamlFields(root, "", TopKeys), Path.GetDirectoryName(Path.GetFullPath(path))!); }
        catch (ConfigException e) { throw YamlFields.InFile(e, path); }
    }

    static TrainConfigFile Parse(YamlFields top, string baseDir)
    {
        string data = Path.GetFullPath(Path.Combine(baseDir, top.String("data") ?? throw new ConfigException("data", "is required (the folder of activation shards)")));
        string outDir = Path.GetFullPath(Path.Combine(baseDir, top.String("out") ?? throw new ConfigException("out", "is required (the output folder)")));
        var saes = SaeFamilies.Expand(top.Node("saes"));
        var precision = PrecisionNames.ParseEncoder(top.String("precision"), "precision");
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
            evalTokens: top.Long("eval_tokens") ?? 262_144,
            formats: top.StringList("formats")?.Select(f => SaeFormatNames.Parse(f, top.Where("formats"))).ToArray());
        return new TrainConfigFile(training, data, outDir);
    }
}
