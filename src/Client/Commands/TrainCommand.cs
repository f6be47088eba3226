using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Client.Views;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary><c>saectl train</c>: one SAE from flags, or many from a YAML, trained in one pass over the data.</summary>
public static class TrainCommand
{
    static readonly Option<string?> Config = new("--config") { Description = "YAML with shared settings and a list of SAE families (many SAEs, one pass)" };
    static readonly Option<string?> Data = new("--data") { Description = "folder of activation shards (*.safetensors with 'acts' [n, d])" };
    static readonly Option<string?> Out = new("--out") { Description = "output folder" };
    static readonly Option<string?> Arch = new("--arch") { Description = "relu | topk | batchtopk | jumprelu" };
    static readonly Option<int?> Width = new("--width") { Description = "number of latents (d_sae)" };
    static readonly Option<int?> K = new("--k") { Description = "active latents per token (topk, batchtopk)" };
    static readonly Option<float?> L1 = new("--l1") { Description = "L1 coefficient (relu)" };
    static readonly Option<float?> L0 = new("--l0-coeff") { Description = "L0 coefficient (jumprelu)" };
    static readonly Option<long?> Tokens = new("--tokens") { Description = "training tokens" };
    static readonly Option<int?> Batch = new("--batch") { Description = "tokens per batch (default 4096)" };
    static readonly Option<float?> Lr = new("--lr") { Description = "peak learning rate (default: " + SaeConfig.DefaultLearningRateHelp + ")" };
    static readonly Option<long?> Seed = new("--seed") { Description = "random seed (default 0)" };
    static readonly Option<string?> Precision = new("--precision") { Description = "GEMM precision: auto | fp32 | bf16 (default auto: bf16 where this machine runs bf16 GEMMs faster — AMX, else measured at start — fp32 for JumpReLU)" };
    static readonly Option<int?> CheckpointEvery = new("--checkpoint-every") { Description = "steps between checkpoints (default 500)" };
    static readonly Option<int?> LogEvery = new("--log-every") { Description = "steps between progress reports (default 50)" };
    static readonly Option<long?> DeadTokens = new("--dead-tokens") { Description = "a latent is dead after this many tokens without firing (default 10M)" };
    static readonly Option<long?> EvalTokens = new("--eval-tokens") { Description = "tokens for the final evaluation (default 262144)" };
    static readonly Option<string?> Formats = new("--formats") { Description = "also write each SAE as: " + SaeFormatNames.Choices + " (comma-separated; SAELens is always written; each where the architecture has a form)" };
    static readonly Option<bool> Resume = new("--resume") { Description = "continue from the checkpoint in --out" };
    static readonly Option<bool> Overwrite = new("--overwrite") { Description = "replace whatever --out holds" };
    static readonly Option<bool> Json = new("--json") { Description = "print the results as JSON on stdout" };
    static readonly Option<bool> Quiet = new("--quiet") { Description = "no progress output" };

    public static Command Create()
    {
        var cmd = new Command("train", "Train SAEs on activation shards (all SAEs of a run share one pass over the data)");
        foreach (var o in new Option[] { Config, Data, Out, Arch, Width, K, L1, L0, Tokens, Batch, Lr, Seed, Precision, CheckpointEvery, LogEvery, DeadTokens, EvalTokens, Formats, Resume, Overwrite, Json, Quiet })
            cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() => Execute(pr, ct)));
        return cmd;
    }

    static int Execute(ParseResult pr, CancellationToken ct)
    {
        var (config, dataDir, outDir, single) = Resolve(pr);
        if (pr.GetValue(Formats) is string formats)
        {
            try { config = config.WithFormats(formats.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => SaeFormatNames.Parse(f, "--formats")).ToArray()); }
            catch (ConfigException e) when (e.Field == "formats") { throw new ConfigException("--formats", e.Message[(e.Field.Length + 2)..]); }
        }
        var results = Train(config, dataDir, outDir, single, pr.GetValue(Resume), pr.GetValue(Overwrite), pr.GetValue(Quiet), ct);
        if (pr.GetValue(Json)) Console.WriteLine(ResultsJson(results));
        else TrainingView.Results(results);
        return 0;
    }

    /// <summary>Validates the output folder and the data, then trains, evaluates and writes every SAE.</summary>
    public static IReadOnlyList<SaeResult> Train(TrainingConfig config, string dataDir, string outDir, bool single,
        bool resume, bool overwrite, bool quiet, CancellationToken ct)
    {
        var run = new LocalTrainingRun(outDir, single);
        string? resumeFrom = run.PrepareOutput(resume, overwrite);
        using var dataset = OpenData(dataDir, config, quiet);
        using var trainer = new MultiSaeTrainer(config, dataset);
        if (!quiet)
        {
            Console.Error.WriteLine($"{config.Saes.Count} SAE(s), d_in {dataset.DIn}, {dataset.Rows:N0} rows in {dataset.Files.Count} shard(s), {config.TotalSteps:N0} steps of {config.BatchSize}, GEMM {SaeCluster.Compute.Gemm.Backend}");
            if (config.UsesAutoPrecision) SaeCluster.Compute.Bf16Choice.ReportOnce(Console.Error.WriteLine);
        }
        return TrainingView.WithProgress("training", config.TotalSteps, quiet,
            report => run.Execute(trainer, resumeFrom, overwrite, report, quiet ? null : m => Console.Error.WriteLine(m), ct));
    }

    static (TrainingConfig, string, string, bool) Resolve(ParseResult pr)
    {
        string? configPath = pr.GetValue(Config);
        if (configPath != null)
        {
            foreach (var o in new Option[] { Arch, Width, K, L1, L0, Tokens, Batch, Lr, Seed, Precision, CheckpointEvery, LogEvery, DeadTokens, EvalTokens })
                if (pr.GetResult(o) != null) throw new ConfigException(o.Name, $"cannot be combined with --config (set it in {configPath})");
            var file = TrainConfigFile.Load(configPath);
            string data = pr.GetValue(Data) is string d ? Path.GetFullPath(d) : file.DataDir;
            string output = pr.GetValue(Out) is string o2 ? Path.GetFullPath(o2) : file.OutDir;
            return (file.Training, data, output, false);
        }
        string dataDir = pr.GetValue(Data) ?? throw new ConfigException("--data", "is required (or --config FILE.yaml)");
        string outDir = pr.GetValue(Out) ?? throw new ConfigException("--out", "is required");
        var arch = SaeArchitectureNames.Parse(pr.GetValue(Arch) ?? throw new ConfigException("--arch", "is required (relu, topk, batchtopk or jumprelu)"), "--arch");
        var sae = new SaeConfig(arch,
            width: pr.GetValue(Width) ?? throw new ConfigException("--width", "is required"),
            k: pr.GetValue(K) ?? 0, l1: pr.GetValue(L1) ?? 0, l0Coefficient: pr.GetValue(L0) ?? 0, lr: pr.GetValue(Lr), field: "--");
        var training = new TrainingConfig([sae],
            tokens: pr.GetValue(Tokens) ?? throw new ConfigException("--tokens", "is required"),
            batchSize: pr.GetValue(Batch) ?? 4096,
            seed: (ulong)(pr.GetValue(Seed) ?? 0),
            logEvery: pr.GetValue(LogEvery) ?? 50,
            checkpointEvery: pr.GetValue(CheckpointEvery) ?? 500,
            deadTokens: pr.GetValue(DeadTokens) ?? 10_000_000,
            precision: CliValues.Precision(pr.GetValue(Precision)),
            evalTokens: pr.GetValue(EvalTokens) ?? 262_144);
        return (training, Path.GetFullPath(dataDir), Path.GetFullPath(outDir), true);
    }

    static ShardDataset OpenData(string dataDir, TrainingConfig config, bool quiet)
    {
        if (quiet || !TrainingView.Interactive)
            return ShardDataset.Open(dataDir, config.Seed, config.ShuffleBlock);
        ShardDataset? ds = null;
        AnsiConsole.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("checking shards", maxValue: 1);
                ds = ShardDataset.Open(dataDir, config.Seed, config.ShuffleBlock, progress: (done, total) => { task.MaxValue = total; task.Value = done; });
            });
        return ds!;
    }

    static string ResultsJson(IReadOnlyList<SaeResult> results)
    {
        var arr = new JsonArray();
        foreach (var r in results)
            arr.Add(new JsonObject
            {
                ["name"] = r.Config.Name, ["arch"] = r.Config.Architecture.ToName(), ["width"] = r.Config.Width,
                ["k"] = r.Config.K, ["l0"] = r.Evaluation.L0, ["fvu"] = r.Evaluation.Fvu,
                ["dead_fraction"] = r.Evaluation.DeadFraction, ["tokens_per_s"] = r.TokensPerSecond, ["folder"] = r.Folder,
            });
        return arr.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
