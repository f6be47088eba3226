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
        cmd.Subcommands.Add(BenchSyntheticCommand.Create());
        cmd.Subcommands.Add(Step());
        cmd.Subcommands.Add(Forward());
        cmd.Subcommands.Add(BenchClusterCommand.Create());
        cmd.Subcommands.Add(BenchMetricsCommand.Create());
        return cmd;
    }

    internal static readonly Option<bool> Json = new("--json") { Description = "print results as JSON on stdout" };

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
        var profile = new Option<bool>("--profile") { Description = "time each phase of the step (ms/step per phase)" };
        var dead = new Option<double>("--dead-fraction") { Description = "share of latents held dead so AuxK runs (the peer uses the same share)", DefaultValueFactory = _ => 0.05 };
        var cmd = new Command("step", "Time one training step of one SAE (ms/step, tokens/s) against the GEMM peak measured in the same run");
        foreach (var o in new Option[] { dIn, width, batch, arch, k, steps, warmup, precision, dead, profile, peer, peerSteps, Json }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var a = SaeArchitectureNames.Parse(pr.GetValue(arch)!, "--arch");
            var r = RunStep(a, pr.GetValue(dIn), pr.GetValue(width), pr.GetValue(batch), pr.GetValue(k), pr.GetValue(steps), pr.GetValue(warmup),
                CliValues.Precision(pr.GetValue(precision)), pr.GetValue(dead), pr.GetValue(profile), ct);
            if (pr.GetValue(peer)) AddPeer(r, pr.GetValue(peerSteps));
            if (pr.GetValue(Json)) Console.WriteLine(r.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else PrintStep(r);
            return 0;
        }));
        return cmd;
    }

    public static JsonObject RunStep(SaeArchitecture arch, int dIn, int width, int batch, int k, int steps, int warmup,
        EncoderPrecision precision, double deadFraction, bool profile, CancellationToken ct)
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
        var phases = new StepProfile();
        for (int i = 0; i < warmup + steps; i++)
        {
            ct.ThrowIfCancellationRequested();
            if (profile && i == warmup) learner.Profile = phases;
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
        // roofline: the encoder GEMM at the measured peak + Adam's traffic (read w, g, m, v; write w, m, v) at the measured bandwidth
        double bandwidth = MemoryBandwidth.MeasureGBps();
        long parameters = learner.Sae.Parameters.Sum(p => (long)p.Length);
        double rooflineMs = (encoderFlops / (usedPeak * 1e9) + 28.0 * parameters / (bandwidth * 1e9)) * 1000;
        var result = new JsonObject
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
            ["memory_gbps"] = bandwidth,
            ["roofline_ms"] = rooflineMs,
            ["roofline_fraction"] = rooflineMs / ms,
        };
        if (profile)
        {
            var p = new JsonObject();
            foreach (var (phase, t) in phases.PerStep()) p[phase] = t;
            result["profile_ms"] = p;
        }
        return result;
    }

    static void AddPeer(JsonObject r, int peerSteps)
    {
        var peer = BenchPython.Run(BenchPython.FindScript("torch_sae_step.py"), ["--d-in", r["d_in"]!.ToString(), "--width", r["width"]!.ToString(), "--batch", r["batch"]!.ToString(),
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
        var peer = BenchPython.Run(BenchPython.FindScript("torch_gemma_forward.py"), ["--model", modelDir, "--rows", rows.ToString(), "--context", context.ToString(), "--repeats", repeats.ToString(), "--json"]);
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
        table.AddRow("memory bandwidth (GB/s, triad)", ((double)r["memory_gbps"]!).ToString("N1"));
        table.AddRow("roofline ms (encoder at peak + Adam at bandwidth)", ((double)r["roofline_ms"]!).ToString("F1"));
        table.AddRow("share of roofline reached", ((double)r["roofline_fraction"]!).ToString("P0"));
        if (r["profile_ms"] is JsonObject prof)
            foreach (var (phase, v) in prof) table.AddRow($"  {phase} (ms)", ((double)v!).ToString("F1"));
        table.AddRow("dense-equivalent TFLOP/s", ((double)r["dense_equivalent_tflops"]!).ToString("F2"));
        if (r["speedup_vs_peer"] is JsonObject s)
        {
            foreach (var (name, v) in s)
                table.AddRow($"× PyTorch {name} ({(double)r["peer"]!["variants"]![name]!["tokens_per_s"]!:N0} tok/s)", ((double)v!).ToString("F2"));
        }
        AnsiConsole.Write(table);
    }
}
