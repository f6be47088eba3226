using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Client.Views;
using SaeCluster.Compute;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl bench synthetic</c>: SAEs trained on ground-truth features in superposition, judged by how
/// well their decoders recover the features (MMCS), with FVU, L0 and dead latents from a held-out
/// evaluation. <c>--peer</c> trains dictionary_learning-style TopK/BatchTopK SAEs
/// (bench/torch_sae_train.py) on the very same batches and evaluates them with the same code.
/// </summary>
public static class BenchSyntheticCommand
{
    /// <summary>MMCS targets: ≥ 0.95 for TopK/BatchTopK/JumpReLU, ≥ 0.85 for ReLU+L1.</summary>
    public static double MmcsTarget(SaeArchitecture a) => a == SaeArchitecture.Relu ? 0.85 : 0.95;

    public static Command Create()
    {
        var dIn = new Option<int>("--d-in") { Description = "activation dimension", DefaultValueFactory = _ => 64 };
        var features = new Option<int>("--features") { Description = "true features (= SAE width)", DefaultValueFactory = _ => 128 };
        var l0 = new Option<double>("--l0") { Description = "true mean active features per token (= k)", DefaultValueFactory = _ => 4 };
        var tokens = new Option<long>("--tokens") { Description = "training tokens", DefaultValueFactory = _ => 4_000_000 };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 4096 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var archs = new Option<string>("--arch") { Description = "comma-separated architectures", DefaultValueFactory = _ => "relu,topk,batchtopk,jumprelu" };
        var lrs = new Option<string>("--lr")
        {
            Description = "comma-separated learning rates, each trained for every architecture on both sides; 'default' = each side's own default (relu and jumprelu: this bench's 0.02, their recipes' rates being for ~100k-step runs)",
            DefaultValueFactory = _ => "default",
        };
        var peer = new Option<bool>("--peer") { Description = "also train dictionary_learning-style TopK/BatchTopK SAEs in PyTorch (bench/torch_sae_train.py) on the same batches" };
        var precision = new Option<string>("--precision") { Description = "GEMM precision of our side: auto | fp32 | bf16", DefaultValueFactory = _ => "auto" };
        var quiet = new Option<bool>("--quiet") { Description = "no progress output" };
        var cmd = new Command("synthetic", "Train each architecture on ground-truth features in superposition; report MMCS, FVU, L0, dead fraction (and a PyTorch peer's)");
        foreach (var o in new Option[] { dIn, features, l0, tokens, batch, seed, archs, lrs, precision, peer, BenchCommand.Json, quiet }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var list = pr.GetValue(archs)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(a => SaeArchitectureNames.Parse(a, "--arch")).ToArray();
            var result = Run(new SyntheticBenchSpec(pr.GetValue(dIn), pr.GetValue(features), pr.GetValue(l0), pr.GetValue(tokens), pr.GetValue(batch),
                (ulong)pr.GetValue(seed), list, ParseRates(pr.GetValue(lrs)!), pr.GetValue(peer), CliValues.Precision(pr.GetValue(precision))), pr.GetValue(quiet), ct);
            if (pr.GetValue(BenchCommand.Json)) Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Print(result);
            return 0;
        }));
        return cmd;
    }

    static float?[] ParseRates(string value)
    {
        var rates = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => v == "default" ? (float?)null
                : float.TryParse(v, CultureInfo.InvariantCulture, out float f) && f > 0 && float.IsFinite(f) ? f
                : throw new ConfigException("--lr", $"'{v}' is not a positive number or 'default'")).ToArray();
        if (rates.Length == 0) throw new ConfigException("--lr", "names no learning rate");
        if (rates.Distinct().Count() != rates.Length) throw new ConfigException("--lr", "lists a learning rate twice");
        return rates;
    }

    /// <summary>The peer trains these architectures (dictionary_learning's TopK and BatchTopK trainers).</summary>
    static bool PeerHas(SaeArchitecture a) => a is SaeArchitecture.TopK or SaeArchitecture.BatchTopK;

    static string SaeName(SaeArchitecture a, float? lr) => $"{a.ToName()}-lr{lr?.ToString("g3", CultureInfo.InvariantCulture) ?? "default"}";

    public static JsonObject Run(SyntheticBenchSpec spec, bool quiet, CancellationToken ct)
    {
        if (spec.Archs.Length == 0) throw new ConfigException("--arch", "names no architecture");
        using var source = new SyntheticFeatures(spec.DIn, spec.Features, spec.TrueL0, spec.Seed);
        var saes = (from a in spec.Archs from lr in spec.Rates select SyntheticFeatures.RecoverySae(a, spec.Features, spec.TrueL0, lr, SaeName(a, lr))).ToArray();
        var config = new TrainingConfig(saes, spec.Tokens, spec.Batch, spec.Seed, logEvery: 100, checkpointEvery: 0, deadTokens: 100_000, evalTokens: 262_144, precision: spec.Precision);
        using var trainer = new MultiSaeTrainer(config, source);
        var sw = Stopwatch.StartNew();
        trainer.Initialize();
        TrainingView.WithProgress("synthetic", config.TotalSteps, quiet, report => { trainer.Run(ct, report); return 0; });
        double seconds = sw.Elapsed.TotalSeconds;
        var evals = trainer.Evaluate(ct);
        var rows = new JsonArray();
        for (int i = 0; i < trainer.Learners.Count; i++)
            rows.Add(Row("saecluster", trainer.Learners[i], evals[i], source, spec.Rates[i % spec.Rates.Length]));
        var result = new JsonObject
        {
            ["d_in"] = spec.DIn, ["features"] = spec.Features, ["true_l0"] = spec.TrueL0, ["tokens"] = config.TrainedTokens, ["batch"] = spec.Batch,
            ["seed"] = spec.Seed, ["seconds"] = seconds, ["precision"] = trainer.Learners.Any(l => l.UsesBf16(spec.Precision)) ? "bf16" : "fp32", ["saes"] = rows,
        };
        if (spec.Peer && spec.Archs.Any(PeerHas)) AddPeer(result, spec, source, trainer, quiet, ct);
        return result;
    }

    static JsonObject Row(string side, SaeLearner l, SaeEvaluation e, SyntheticFeatures source, float? requestedLr)
    {
        double mmcs = source.Mmcs(l.Sae.Decoder.Value, l.Config.Width);
        var a = l.Config.Architecture;
        return new JsonObject
        {
            ["side"] = side, ["arch"] = a.ToName(), ["lr_setting"] = requestedLr is float f ? f.ToString("g3", CultureInfo.InvariantCulture) : PeerHas(a) || side == "peer" ? "default" : "bench",
            ["lr"] = (double)l.LearningRate, ["width"] = l.Config.Width, ["k"] = l.Config.K,
            ["mmcs"] = mmcs, ["mmcs_target"] = MmcsTarget(a), ["pass"] = mmcs >= MmcsTarget(a),
            ["fvu"] = e.Fvu, ["l0"] = e.L0, ["dead_fraction"] = e.DeadFraction,
        };
    }

    // The peer: the same batches (scaled by our normalisation) streamed to bench/torch_sae_train.py, its weights
    // loaded back into learners of the same shape and evaluated on the same held-out tokens.
    static void AddPeer(JsonObject result, SyntheticBenchSpec spec, SyntheticFeatures source, MultiSaeTrainer ours, bool quiet, CancellationToken ct)
    {
        var archs = spec.Archs.Where(PeerHas).ToArray();
        int k = (int)Math.Round(spec.TrueL0);
        var cfgs = (from a in archs from lr in spec.Rates select (Arch: a, Lr: lr, Name: SaeName(a, lr))).ToArray();
        string dir = Path.Combine(Path.GetTempPath(), "saectl-peer-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            long steps = ours.Config.TotalSteps;
            int B = spec.Batch, d = spec.DIn;
            var args = new List<string> { "--d-in", d.ToString(CultureInfo.InvariantCulture), "--batch", B.ToString(CultureInfo.InvariantCulture),
                "--steps", steps.ToString(CultureInfo.InvariantCulture), "--out", dir, "--seed", spec.Seed.ToString(CultureInfo.InvariantCulture),
                "--dead-tokens", ours.Config.DeadTokens.ToString(CultureInfo.InvariantCulture) };
            foreach (var c in cfgs)
                args.AddRange(["--sae", $"name={c.Name},arch={c.Arch.ToName()},width={spec.Features},k={k}" + (c.Lr is float f ? $",lr={f.ToString("R", CultureInfo.InvariantCulture)}" : "")]);
            float scale = ours.NormScale;
            var sw = Stopwatch.StartNew();
            var peer = TrainingView.WithProgress("PyTorch peer", steps, quiet, report => BenchPython.Run(BenchPython.FindScript("torch_sae_train.py"), args, stdin =>
            {
                var x = new float[B * d];
                for (long s = 0; s < steps; s++)
                {
                    ct.ThrowIfCancellationRequested();
                    source.ReadBatch(s, B, x);
                    if (scale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(x, scale, x);
                    stdin.Write(MemoryMarshal.AsBytes(x.AsSpan()));
                    if ((s + 1) % 100 == 0 || s + 1 == steps)
                        report(new TrainingProgress(s + 1, steps, (s + 1) * B, (s + 1) * B / Math.Max(1e-9, sw.Elapsed.TotalSeconds), []));
                }
            }, ct));

            // the peer's SAEs, in learners of the same shape, evaluated by the same code on the same tokens
            var peerSaes = cfgs.Select(c => new SaeConfig(c.Arch, spec.Features, k: k, name: c.Name)).ToArray();
            using var evalSource = new SyntheticFeatures(spec.DIn, spec.Features, spec.TrueL0, spec.Seed);
            using var evaluator = new MultiSaeTrainer(new TrainingConfig(peerSaes, ours.Config.Tokens, B, spec.Seed, checkpointEvery: 0,
                deadTokens: ours.Config.DeadTokens, evalTokens: ours.Config.EvalTokens, precision: ours.Config.Precision), evalSource);
            evaluator.RestoreStep(steps, 0, scale);
            var reports = peer["saes"]!.AsArray();
            for (int i = 0; i < cfgs.Length; i++) LoadPeerWeights(Path.Combine(dir, cfgs[i].Name + ".safetensors"), evaluator.Learners[i]);
            var evals = evaluator.Evaluate(ct);
            var rows = result["saes"]!.AsArray();
            for (int i = 0; i < cfgs.Length; i++)
            {
                var row = Row("peer", evaluator.Learners[i], evals[i], source, cfgs[i].Lr);
                row["lr"] = (double)reports[i]!["lr"]!; // the peer's own lr (its default rule where none was given)
                rows.Add(row);
            }
            result["peer"] = new JsonObject
            {
                ["script"] = "bench/torch_sae_train.py", ["torch"] = peer["torch"]?.DeepClone(), ["threads"] = peer["threads"]?.DeepClone(),
                ["seconds"] = reports.Sum(r => (double)r!["seconds"]!),
            };
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    // dictionary_learning layout: encoder.weight [width, d_in] (= our W_encᵀ), encoder.bias, decoder.weight [d_in, width], b_dec, threshold.
    static void LoadPeerWeights(string path, SaeLearner l)
    {
        using var f = SafetensorsFile.Open(path);
        int n = l.Config.Width, d = l.Sae.DIn;
        float[] Read(string name, long count)
        {
            var v = f.ReadAllAsFloat(name);
            if (v.LongLength != count) throw new IOException($"{path}: {name} holds {v.Length} values, expected {count}");
            return v;
        }
        Read("encoder.weight", (long)n * d).CopyTo(l.Sae.EncoderT.Value, 0);
        Read("encoder.bias", n).CopyTo(l.Sae.EncoderBias.Value, 0);
        Read("b_dec", d).CopyTo(l.Sae.DecoderBias.Value, 0);
        var dec = Read("decoder.weight", (long)d * n);
        var w = l.Sae.Decoder.Value;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < n; j++) w[j * d + i] = dec[i * n + j];
        float threshold = Read("threshold", 1)[0];
        if (l.Config.Architecture == SaeArchitecture.BatchTopK) l.BatchThreshold = threshold;
    }

    static void Print(JsonObject r)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"[bold]Synthetic recovery[/]: {r["features"]} features in d={r["d_in"]}, true L0 {r["true_l0"]}, {(long)r["tokens"]!:N0} tokens, {(double)r["seconds"]!:F0} s");
        foreach (var c in new[] { "arch", "lr", "side", "MMCS", "target", "FVU", "L0", "dead", "" }) table.AddColumn(new TableColumn(c).RightAligned());
        var rows = r["saes"]!.AsArray().Select(s => s!.AsObject()).OrderBy(s => (string)s["arch"]!).ThenBy(s => (string)s["lr_setting"]!).ThenBy(s => (string)s["side"]!).ToArray();
        foreach (var s in rows)
        {
            bool pass = (bool)s["pass"]!;
            table.AddRow((string)s["arch"]!, ((double)s["lr"]!).ToString("0.###e0", CultureInfo.InvariantCulture), (string)s["side"]! == "peer" ? "PyTorch peer" : "SaeCluster",
                ((double)s["mmcs"]!).ToString("F3"), $"≥ {(double)s["mmcs_target"]!:F2}", ((double)s["fvu"]!).ToString("F4"),
                ((double)s["l0"]!).ToString("F2"), ((double)s["dead_fraction"]!).ToString("P1"), pass ? "[green]pass[/]" : "[red]below target[/]");
        }
        AnsiConsole.Write(table);
    }
}

/// <summary>One synthetic benchmark: the ground truth, the budget, and what is trained (architectures × learning rates; null = default).</summary>
public sealed record SyntheticBenchSpec(int DIn, int Features, double TrueL0, long Tokens, int Batch, ulong Seed,
    SaeArchitecture[] Archs, float?[] Rates, bool Peer, EncoderPrecision Precision = EncoderPrecision.Auto);
