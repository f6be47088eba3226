using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Client.Views;
using SaeCluster.Compute;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary><c>saectl bench synthetic | step</c>: recovery of known features, and training-step speed.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "Benchmarks: feature recovery on synthetic data, and training-step speed");
        cmd.Subcommands.Add(Synthetic());
        cmd.Subcommands.Add(Step());
        cmd.Subcommands.Add(Forward());
        cmd.Subcommands.Add(BenchClusterCommand.Create());
        cmd.Subcommands.Add(BenchMetricsCommand.Create());
        return cmd;
    }

    static readonly Option<bool> Json = new("--json") { Description = "print results as JSON on stdout" };

    // ---- synthetic --------------------------------------------------------------------------------

    /// <summary>Targets from the issue: MMCS ≥ 0.95 for TopK/BatchTopK/JumpReLU, ≥ 0.85 for ReLU+L1.</summary>
    public static double MmcsTarget(SaeArchitecture a) => a == SaeArchitecture.Relu ? 0.85 : 0.95;

    static Command Synthetic()
    {
        var dIn = new Option<int>("--d-in") { Description = "activation dimension", DefaultValueFactory = _ => 64 };
        var features = new Option<int>("--features") { Description = "true features (= SAE width)", DefaultValueFactory = _ => 128 };
        var l0 = new Option<double>("--l0") { Description = "true mean active features per token", DefaultValueFactory = _ => 4 };
        var tokens = new Option<long>("--tokens") { Description = "training tokens", DefaultValueFactory = _ => 4_000_000 };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 4096 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var archs = new Option<string>("--arch") { Description = "comma-separated architectures", DefaultValueFactory = _ => "relu,topk,batchtopk,jumprelu" };
        var quiet = new Option<bool>("--quiet") { Description = "no progress output" };
        var cmd = new Command("synthetic", "Train each architecture on ground-truth features in superposition; report MMCS, FVU, L0, dead fraction");
        foreach (var o in new Option[] { dIn, features, l0, tokens, batch, seed, archs, Json, quiet }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var list = pr.GetValue(archs)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(a => SaeArchitectureNames.Parse(a, "--arch")).ToArray();
            var result = RunSynthetic(pr.GetValue(dIn), pr.GetValue(features), pr.GetValue(l0), pr.GetValue(tokens), pr.GetValue(batch),
                (ulong)pr.GetValue(seed), list, pr.GetValue(quiet), ct);
            if (pr.GetValue(Json)) Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else PrintSynthetic(result);
            return 0;
        }));
        return cmd;
    }

    public static JsonObject RunSynthetic(int dIn, int features, double trueL0, long tokens, int batch, ulong seed,
        SaeArchitecture[] archs, bool quiet, CancellationToken ct)
    {
        if (archs.Length == 0) throw new ConfigException("--arch", "names no architecture");
        using var source = new SyntheticFeatures(dIn, features, trueL0, seed);
        var config = new TrainingConfig(archs.Select(a => SyntheticFeatures.RecoverySae(a, features, trueL0)).ToArray(), tokens, batch, seed,
            logEvery: 100, checkpointEvery: 0, deadTokens: 100_000, evalTokens: 262_144);
        using var trainer = new MultiSaeTrainer(config, source);
        var sw = Stopwatch.StartNew();
        trainer.Initialize();
        TrainingView.WithProgress("synthetic", config.TotalSteps, quiet, report => { trainer.Run(ct, report); return 0; });
        var evals = trainer.Evaluate(ct);
        var rows = new JsonArray();
        for (int i = 0; i < trainer.Learners.Count; i++)
        {
            var l = trainer.Learners[i];
            double mmcs = source.Mmcs(l.Sae.Decoder.Value, l.Config.Width);
            rows.Add(new JsonObject
            {
                ["arch"] = l.Config.Architecture.ToName(),
                ["width"] = l.Config.Width,
                ["mmcs"] = mmcs,
                ["mmcs_target"] = MmcsTarget(l.Config.Architecture),
                ["pass"] = mmcs >= MmcsTarget(l.Config.Architecture),
                ["fvu"] = evals[i].Fvu,
                ["l0"] = evals[i].L0,
                ["dead_fraction"] = evals[i].DeadFraction,
            });
        }
        return new JsonObject
        {
            ["d_in"] = dIn, ["features"] = features, ["true_l0"] = trueL0, ["tokens"] = tokens, ["batch"] = batch,
            ["seconds"] = sw.Elapsed.TotalSeconds, ["saes"] = rows,
        };
    }

    static void PrintSynthetic(JsonObject r)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"[bold]Synthetic recovery[/]: {r["features"]} features in d={r["d_in"]}, true L0 {r["true_l0"]}, {r["tokens"]:N0} tokens, {(double)r["seconds"]!:F0} s");
        foreach (var c in new[] { "arch", "MMCS", "target", "FVU", "L0", "dead", "" }) table.AddColumn(new TableColumn(c).RightAligned());
        foreach (var s in r["saes"]!.AsArray())
        {
            bool pass = (bool)s!["pass"]!;
            table.AddRow((string)s["arch"]!, ((double)s["mmcs"]!).ToString("F3"), $"≥ {(double)s["mmcs_target"]!:F2}", ((double)s["fvu"]!).ToString("F4"),
                ((double)s["l0"]!).ToString("F2"), ((double)s["dead_fraction"]!).ToString("P1"), pass ? "[green]pass[/]" : "[red]below target[/]");
        }
        AnsiConsole.Write(table);
    }

    // ---- step ---------------------------------------------------------------------------------------

    static Command Step()
    {
        var dIn = new Option<int>("--d-in") { DefaultValueFactory = _ => 2304 };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 16384 };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 4096 };
        var arch = new Option<string>("--arch") { DefaultValueFactory = _ => "topk" };
        var k = new Option<int>("--k") { DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { Description = "timed steps", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "untimed steps first", DefaultValueFactory = _ => 2 };
        var precision = new Option<string>("--precision") { DefaultValueFactory = _ => "auto" };
        var peer = new Option<bool>("--peer") { Description = "also run the PyTorch peer (bench/torch_sae_step.py) in this run and report ratios" };
        var peerSteps = new Option<int>("--peer-steps") { DefaultValueFactory = _ => 3 };
        var dead = new Option<double>("--dead-fraction") { Description = "share of latents held dead so AuxK runs (the peer uses the same share)", DefaultValueFactory = _ => 0.05 };
        var cmd = new Command("step", "Time one training step of one SAE (ms/step, tokens/s) against the GEMM peak measured in the same run");
        foreach (var o in new Option[] { dIn, width, batch, arch, k, steps, warmup, precision, dead, peer, peerSteps, Json }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var a = SaeArchitectureNames.Parse(pr.GetValue(arch)!, "--arch");
            var r = RunStep(a, pr.GetValue(dIn), pr.GetValue(width), pr.GetValue(batch), pr.GetValue(k), pr.GetValue(steps), pr.GetValue(warmup),
                CliValues.Precision(pr.GetValue(precision)), pr.GetValue(dead), ct);
            if (pr.GetValue(peer)) AddPeer(r, pr.GetValue(peerSteps));
            if (pr.GetValue(Json)) Console.WriteLine(r.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else PrintStep(r);
            return 0;
        }));
        return cmd;
    }

    public static JsonObject RunStep(SaeArchitecture arch, int dIn, int width, int batch, int k, int steps, int warmup,
        EncoderPrecision precision, double deadFraction, CancellationToken ct)
    {
        var sae = arch switch
        {
            SaeArchitecture.TopK or SaeArchitecture.BatchTopK => new SaeConfig(arch, width, k: k),
            SaeArchitecture.Relu => new SaeConfig(arch, width, l1: 1f),
            _ => new SaeConfig(arch, width, l0Coefficient: 1e-3f),
        };
        // realistic codes need structured data: sparse features in superposition, fixed batches
        using var source = new SyntheticFeatures(dIn, Math.Max(width, 1024), Math.Max(8, k), 1);
        var config = new TrainingConfig([sae], tokens: (long)batch * (steps + warmup + 1), batchSize: batch, precision: precision, checkpointEvery: 0);
        using var trainer = new MultiSaeTrainer(config, source);
        bool bf16 = trainer.Learners[0].UsesBf16(precision);
        trainer.Initialize();
        var x = new float[batch * dIn];
        source.ReadBatch(0, batch, x);
        var rowVar = new float[batch];
        double totalVar = batch;
        var learner = trainer.Learners[0];
        // hold a fixed random share of the latents dead (last fired long ago), so AuxK does its full work
        const long Now = 1L << 50;
        var rng = new Rng(Rng.Derive(7, 0xDEAD));
        var deadSet = new long[width];
        for (int j = 0; j < width; j++) deadSet[j] = rng.NextDouble() < deadFraction ? 0 : Now;
        var times = new List<double>();
        for (int i = 0; i < warmup + steps; i++)
        {
            ct.ThrowIfCancellationRequested();
            deadSet.CopyTo(learner.LastFired, 0); // AuxK revives them; keep the workload fixed like the peer's mask
            var sw = Stopwatch.StartNew();
            learner.TrainStep(x, rowVar, totalVar, trainer.Workspace, config.TotalSteps, Now, config.DeadTokens, precision);
            if (i >= warmup) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        double ms = times[times.Count / 2];
        double fp32Peak = GemmPeak.MeasureGflops(batch, width, dIn, bf16: false);
        double bf16Peak = Gemm.HasFastBf16 ? GemmPeak.MeasureGflops(batch, width, dIn, bf16: true) : 0;
        double encoderFlops = 2.0 * batch * dIn * width;
        double usedPeak = bf16 ? bf16Peak : fp32Peak;
        return new JsonObject
        {
            ["arch"] = arch.ToName(), ["d_in"] = dIn, ["width"] = width, ["batch"] = batch, ["k"] = k, ["dead_fraction"] = deadFraction,
            ["precision"] = bf16 ? "bf16" : "fp32", ["gemm_backend"] = Gemm.Backend, ["threads"] = Environment.ProcessorCount,
            ["ms_per_step"] = ms, ["tokens_per_s"] = batch / (ms / 1000),
            ["gemm_fp32_gflops"] = fp32Peak, ["gemm_bf16_gflops"] = bf16Peak,
            // the encoder GEMM alone at the measured peak, as a share of the step: 1.0 would mean the step is all GEMM
            ["encoder_gemm_share"] = encoderFlops / (usedPeak * 1e9) / (ms / 1000),
            // a dense trainer does ≥ 5 GEMMs of this size per step (encoder, decoder, 3 gradients)
            ["dense_equivalent_tflops"] = 5 * encoderFlops / (ms / 1000) / 1e12,
            ["l0"] = (double)trainer.Workspace.Main.Nnz / batch,
            ["auxk_per_token"] = deadFraction > 0 ? (double)trainer.Workspace.Aux.Nnz / batch : 0,
        };
    }

    static void AddPeer(JsonObject r, int peerSteps)
    {
        var peer = RunPython(FindBenchScript("torch_sae_step.py"), ["--d-in", r["d_in"]!.ToString(), "--width", r["width"]!.ToString(), "--batch", r["batch"]!.ToString(),
            "--k", r["k"]!.ToString(), "--dead-fraction", ((double)r["dead_fraction"]!).ToString(CultureInfo.InvariantCulture), "--steps", peerSteps.ToString(CultureInfo.InvariantCulture), "--json"]);
        double ours = (double)r["tokens_per_s"]!;
        var ratios = new JsonObject();
        double best = 0;
        foreach (var (name, v) in peer["variants"]!.AsObject())
        {
            double t = (double)v!["tokens_per_s"]!;
            ratios[name] = ours / t;
            best = Math.Max(best, t);
        }
        r["peer"] = peer;
        r["speedup_vs_peer"] = ratios;
        r["speedup_vs_peer_best"] = ours / best;
    }

    // Runs a bench/ script under Debian's python3 (which has torch) and parses its JSON output.
    static JsonObject RunPython(string script, string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OPENBLAS_CORETYPE"] = "SkylakeX";
        using var p = Process.Start(psi) ?? throw new IOException("could not start /usr/bin/python3");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new IOException($"the PyTorch peer {Path.GetFileName(script)} failed (exit {p.ExitCode}): {stderr.Result.Trim()}");
        return JsonNode.Parse(stdout)!.AsObject();
    }

    static string FindBenchScript(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string p = Path.Combine(dir.FullName, "bench", name);
            if (File.Exists(p)) return p;
        }
        string cwd = Path.Combine(Environment.CurrentDirectory, "bench", name);
        if (File.Exists(cwd)) return cwd;
        throw new ConfigException("--peer", $"bench/{name} not found (run from the repository)");
    }

    // ---- forward -------------------------------------------------------------------------------------

    static Command Forward()
    {
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 1024 };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 8 };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 8 };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => 4 };
        var headDim = new Option<int>("--head-dim") { DefaultValueFactory = _ => 128 };
        var intermediate = new Option<int>("--intermediate") { DefaultValueFactory = _ => 4096 };
        var window = new Option<int>("--window") { DefaultValueFactory = _ => 512 };
        var context = new Option<int>("--context") { DefaultValueFactory = _ => 1024 };
        var rows = new Option<int>("--rows") { DefaultValueFactory = _ => 2 };
        var repeats = new Option<int>("--repeats") { DefaultValueFactory = _ => 2 };
        var peer = new Option<bool>("--peer") { Description = "also time bench/torch_gemma_forward.py (PyTorch eager) on the same checkpoint" };
        var cmd = new Command("forward", "Gemma 2 forward tokens/s (to the last layer's residual) in fp32 and bf16, against PyTorch eager in the same run");
        foreach (var o in new Option[] { hidden, layers, heads, kvHeads, headDim, intermediate, window, context, rows, repeats, peer, Json }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            string dir = Path.Combine(Path.GetTempPath(), "saectl-bench-forward-" + Guid.NewGuid().ToString("N")[..8]);
            try
            {
                var config = SaeCluster.Models.RandomCheckpoint.TinyConfig(SaeCluster.Models.GemmaVersion.Gemma2, pr.GetValue(hidden), pr.GetValue(layers),
                    pr.GetValue(heads), pr.GetValue(kvHeads), pr.GetValue(headDim), pr.GetValue(intermediate), 1024, pr.GetValue(window));
                SaeCluster.Models.RandomCheckpoint.Write(dir, config, 1);
                var r = RunForward(dir, pr.GetValue(rows), pr.GetValue(context), pr.GetValue(repeats), ct);
                if (pr.GetValue(peer)) AddForwardPeer(r, dir, pr.GetValue(rows), pr.GetValue(context), pr.GetValue(repeats));
                if (pr.GetValue(Json)) Console.WriteLine(r.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                else
                {
                    var t = new Table().Border(TableBorder.Rounded).Title($"[bold]Gemma 2 forward[/]: d {config.Hidden}, {config.Layers} layers, context {pr.GetValue(context)} × {pr.GetValue(rows)}");
                    t.AddColumn("measure"); t.AddColumn(new TableColumn("tokens/s").RightAligned()); t.AddColumn(new TableColumn("ratio").RightAligned());
                    foreach (var (k, v) in r["ours"]!.AsObject())
                        t.AddRow($"SaeCluster {k}", ((double)v!).ToString("N0"), r["speedup"] is JsonObject sp && sp[k] is JsonNode x ? $"{(double)x:F2}× PyTorch {k}" : "");
                    if (r["peer"] is JsonObject pv)
                        foreach (var (k, v) in pv["variants"]!.AsObject()) t.AddRow($"PyTorch eager {k}", ((double)v!["tokens_per_s"]!).ToString("N0"), "");
                    AnsiConsole.Write(t);
                }
                return 0;
            }
            finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
        }));
        return cmd;
    }

    public static JsonObject RunForward(string modelDir, int rows, int context, int repeats, CancellationToken ct)
    {
        var model = SaeCluster.Models.GemmaModel.Load(modelDir);
        var rng = new Rng(5);
        var ids = new int[rows * context];
        for (int i = 0; i < ids.Length; i++) ids[i] = i % context == 0 ? 2 : 4 + rng.NextInt(model.Config.VocabSize - 4);
        var last = new LastResidual(model.Config.Layers - 1);
        var ours = new JsonObject();
        foreach (bool bf16 in new[] { false, true })
        {
            if (bf16 && !Gemm.HasFastBf16) continue;
            model.Bf16Matmuls = bf16;
            model.Forward(ids.AsSpan(0, Math.Min(64, context)), 1, last, logits: false); // warm-up
            double best = double.MaxValue;
            for (int r = 0; r < repeats; r++)
            {
                ct.ThrowIfCancellationRequested();
                var sw = Stopwatch.StartNew();
                model.Forward(ids, rows, last, logits: false);
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            ours[bf16 ? "bf16" : "fp32"] = rows * context / best;
        }
        return new JsonObject { ["rows"] = rows, ["context"] = context, ["layers"] = model.Config.Layers, ["hidden"] = model.Config.Hidden, ["ours"] = ours };
    }

    sealed class LastResidual(int layer) : SaeCluster.Models.IActivationHook
    {
        public bool Wants(int l, SaeCluster.Models.HookSite s) => l == layer && s == SaeCluster.Models.HookSite.Res;
        public void OnActivation(int l, SaeCluster.Models.HookSite s, Span<float> values, int tokens, int width) { }
    }

    static void AddForwardPeer(JsonObject r, string modelDir, int rows, int context, int repeats)
    {
        var peer = RunPython(FindBenchScript("torch_gemma_forward.py"), ["--model", modelDir, "--rows", rows.ToString(), "--context", context.ToString(), "--repeats", repeats.ToString(), "--json"]);
        r["peer"] = peer;
        var speedup = new JsonObject();
        foreach (var (k, v) in r["ours"]!.AsObject())
            if (peer["variants"]![k] is JsonNode pv) speedup[k] = (double)v! / (double)pv["tokens_per_s"]!;
        r["speedup"] = speedup;
    }

    static void PrintStep(JsonObject r)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]{r["arch"]} step[/]: d_in {r["d_in"]}, width {r["width"]}, batch {r["batch"]}, k {r["k"]}, {r["precision"]} encoder ({r["gemm_backend"]})");
        table.AddColumn("measure"); table.AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("ms / step", ((double)r["ms_per_step"]!).ToString("F1"));
        table.AddRow("tokens / s", ((double)r["tokens_per_s"]!).ToString("N0"));
        table.AddRow("GEMM peak fp32 (GFLOP/s)", ((double)r["gemm_fp32_gflops"]!).ToString("N0"));
        table.AddRow("GEMM peak bf16 (GFLOP/s)", ((double)r["gemm_bf16_gflops"]!).ToString("N0"));
        table.AddRow("encoder GEMM share of step", ((double)r["encoder_gemm_share"]!).ToString("P0"));
        table.AddRow("dense-equivalent TFLOP/s", ((double)r["dense_equivalent_tflops"]!).ToString("F2"));
        if (r["speedup_vs_peer"] is JsonObject s)
        {
            foreach (var (name, v) in s)
                table.AddRow($"× PyTorch {name} ({(double)r["peer"]!["variants"]![name]!["tokens_per_s"]!:N0} tok/s)", ((double)v!).ToString("F2"));
        }
        AnsiConsole.Write(table);
    }
}
