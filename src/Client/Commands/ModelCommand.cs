using System.CommandLine;
using SaeCluster.Compute;
using SaeCluster.Models;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary><c>saectl model init-random | info</c>: tiny random Gemma checkpoints for tests and demos; checkpoint summaries.</summary>
public static class ModelCommand
{
    public static Command Create()
    {
        var cmd = new Command("model", "Gemma checkpoints: generate tiny random ones, inspect");
        cmd.Subcommands.Add(InitRandom());
        cmd.Subcommands.Add(Info());
        return cmd;
    }

    static Command InitRandom()
    {
        var type = new Option<string>("--type") { Description = "gemma | gemma2 | gemma3_text", Required = true };
        var outDir = new Option<string>("--out") { Description = "checkpoint folder to create", Required = true };
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 64 };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 4 };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 4 };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => 2 };
        var headDim = new Option<int>("--head-dim") { DefaultValueFactory = _ => 24 };
        var intermediate = new Option<int>("--intermediate") { DefaultValueFactory = _ => 128 };
        var vocab = new Option<int>("--vocab") { DefaultValueFactory = _ => 384 };
        var window = new Option<int>("--window") { Description = "sliding window (Gemma 2/3)", DefaultValueFactory = _ => 8 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var dtype = new Option<string>("--dtype") { Description = "f32 | bf16 | f16", DefaultValueFactory = _ => "f32" };
        var shards = new Option<int>("--shards") { Description = "split into this many safetensors shards", DefaultValueFactory = _ => 1 };
        var overwrite = new Option<bool>("--overwrite");
        var cmd = new Command("init-random", "Write a tiny random Gemma checkpoint in the Hugging Face layout (config, safetensors, tokenizer)");
        foreach (var o in new Option[] { type, outDir, hidden, layers, heads, kvHeads, headDim, intermediate, vocab, window, seed, dtype, shards, overwrite })
            cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var version = pr.GetValue(type) switch
            {
                "gemma" => GemmaVersion.Gemma1,
                "gemma2" => GemmaVersion.Gemma2,
                "gemma3" or "gemma3_text" => GemmaVersion.Gemma3,
                var t => throw new ConfigException("--type", $"unknown model type '{t}' (gemma, gemma2, gemma3_text)"),
            };
            var storeAs = CliValues.StorageDtype(pr.GetValue(dtype));
            string folder = Path.GetFullPath(pr.GetValue(outDir)!);
            if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any() && !pr.GetValue(overwrite))
                throw new ConfigException("--out", $"{folder} is not empty (pass --overwrite)");
            int v = pr.GetValue(vocab), h = pr.GetValue(heads), kv = pr.GetValue(kvHeads);
            if (v < RandomCheckpoint.ByteTokenizerSize) throw new ConfigException("--vocab", $"must be at least {RandomCheckpoint.ByteTokenizerSize} (the byte-level tokenizer's size)");
            if (h < 1 || kv < 1 || h % kv != 0) throw new ConfigException("--kv-heads", $"--heads {h} must be a positive multiple of --kv-heads {kv}");
            foreach (var (o, val) in new[] { (hidden, pr.GetValue(hidden)), (layers, pr.GetValue(layers)), (intermediate, pr.GetValue(intermediate)), (window, pr.GetValue(window)) })
                if (val < 1) throw new ConfigException(o.Name, $"must be ≥ 1 (got {val})");
            if (pr.GetValue(headDim) is int hd && (hd < 2 || hd % 2 != 0)) throw new ConfigException("--head-dim", $"must be even and ≥ 2 (got {hd})");
            var config = RandomCheckpoint.TinyConfig(version, pr.GetValue(hidden), pr.GetValue(layers), h, kv, pr.GetValue(headDim),
                pr.GetValue(intermediate), v, pr.GetValue(window));
            int s = pr.GetValue(shards);
            if (s < 1 || s > config.Layers + 1) throw new ConfigException("--shards", $"must be 1 to {config.Layers + 1} (got {s})");
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
            RandomCheckpoint.Write(folder, config, (ulong)pr.GetValue(seed), storeAs, s);
            Console.WriteLine($"wrote a random {config.ModelType} checkpoint to {folder}: d {config.Hidden}, {config.Layers} layers, " +
                $"{config.Heads}/{config.KvHeads} heads of {config.HeadDim}, vocab {config.VocabSize}");
            return 0;
        }));
        return cmd;
    }

    static Command Info()
    {
        var dir = new Argument<string>("model") { Description = "checkpoint folder" };
        var cmd = new Command("info", "Summarise a Gemma checkpoint (version, shapes, layer types, hook-site widths)");
        cmd.Arguments.Add(dir);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            string folder = pr.GetValue(dir)!;
            var c = GemmaConfig.Load(Path.Combine(folder, "config.json"));
            var t = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(Path.GetFullPath(folder)));
            t.AddColumn("field"); t.AddColumn("value");
            t.AddRow("model type", $"{c.ModelType} ({c.Version})");
            t.AddRow("d / layers / vocab", $"{c.Hidden} / {c.Layers} / {c.VocabSize:N0}");
            t.AddRow("heads (q / kv) × head dim", $"{c.Heads} / {c.KvHeads} × {c.HeadDim} (Hq·D = {c.QDim})");
            t.AddRow("MLP width", c.Intermediate.ToString());
            t.AddRow("sliding layers", c.SlidingWindow is int w ? $"{string.Join(",", Enumerable.Range(0, c.Layers).Where(i => c.Sliding[i]))} (window {w})" : "none");
            t.AddRow("softcaps (attn / final)", $"{c.AttnSoftcap?.ToString() ?? "-"} / {c.FinalSoftcap?.ToString() ?? "-"}");
            t.AddRow("site widths", $"res {HookSite.Res.Width(c)}, mlp {HookSite.Mlp.Width(c)}, att {HookSite.Att.Width(c)}, attn_out {HookSite.AttnOut.Width(c)}");
            AnsiConsole.Write(t);
            return 0;
        }));
        return cmd;
    }
}
