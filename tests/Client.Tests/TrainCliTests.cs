using System.Diagnostics;
using System.Text.Json.Nodes;
using Parquet;
using Parquet.Schema;
using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Client.Tests;

public class TrainCliTests
{
    static void MakeShards(string folder, int shards = 2, int rows = 4096, int d = 32)
    {
        using var truth = new SyntheticFeatures(d, 64, 3, seed: 2);
        ShardWriter.WriteFromSource(truth, folder, shards, rows);
    }

    [Fact]
    public void TrainsOneSaeFromFlags()
    {
        using var tmp = new TempDir();
        MakeShards(tmp["acts"]);
        var r = Saectl.Run("train", "--data", tmp["acts"], "--out", tmp["sae"], "--arch", "topk", "--width", "64", "--k", "3",
            "--tokens", "40960", "--batch", "1024", "--lr", "0.01", "--eval-tokens", "4096");
        Assert.True(r.ExitCode == 0, r.Stderr);
        foreach (var f in new[] { "sae_weights.safetensors", "cfg.json", "metrics.json", "sparsity.safetensors", "train_log.jsonl" })
            Assert.True(File.Exists(Path.Combine(tmp["sae"], f)), $"{f} missing");
        var curve = File.ReadAllLines(Path.Combine(tmp["sae"], "train_log.jsonl")).Select(l => JsonNode.Parse(l)!).ToArray();
        Assert.Equal(Enumerable.Range(1, 40 / 50 + 1).Select(i => (long)Math.Min(i * 50, 40)), curve.Select(c => (long)c["step"]!)); // every log_every steps and the last
        Assert.All(curve, c => Assert.InRange((double)c["l0"]!, 0, 3));
        Assert.False(Directory.Exists(Path.Combine(tmp["sae"], "checkpoint")));
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp["sae"], "metrics.json")))!;
        Assert.InRange((double)metrics["l0"]!, 2.5, 3.0);
        double fvu = (double)metrics["fvu"]!;
        Assert.InRange(fvu, 0.0, 0.8);
        Assert.Equal(1 - fvu, (double)metrics["explained_variance"]!, 1e-12);
        Assert.InRange((double)metrics["dead_fraction"]!, 0.0, 1.0);
        Assert.Equal(0, (double)metrics["dead_fraction"]! * 64 % 1, 1e-9); // a share of the 64 latents
        Assert.Equal((40960L, 40L, 4096L), ((long)metrics["tokens"]!, (long)metrics["steps"]!, (long)metrics["eval_tokens"]!));
        double seconds = (double)metrics["train_seconds"]!;
        Assert.True(seconds > 0, $"train_seconds {seconds}");
        Assert.Equal(40960 / seconds, (double)metrics["tokens_per_s"]!, 1e-9 * 40960 / seconds); // tokens / train_seconds
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp["sae"], "cfg.json")))!;
        Assert.Equal("topk", (string)cfg["architecture"]!);
        Assert.Equal(32, (int)cfg["d_in"]!);
        Assert.Equal(64, (int)cfg["d_sae"]!);
        using var w = SafetensorsFile.Open(Path.Combine(tmp["sae"], "sae_weights.safetensors"));
        Assert.Equal([32L, 64L], w.Get("W_enc").Shape);
        Assert.Equal([64L, 32L], w.Get("W_dec").Shape);
        Assert.Contains("SAEs trained", r.Stdout);

        // the same folder again without --resume/--overwrite is refused
        var again = Saectl.Run("train", "--data", tmp["acts"], "--out", tmp["sae"], "--arch", "topk", "--width", "64", "--k", "3", "--tokens", "40960");
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("--overwrite", again.Stderr);
    }

    [Fact]
    public void TrainsManySaesFromAYamlInOnePass()
    {
        using var tmp = new TempDir();
        MakeShards(tmp["acts"]);
        File.WriteAllText(tmp["train.yaml"], """
            data: acts
            out: runs
            tokens: 20480
            batch: 1024
            eval_tokens: 2048
            saes:
              - arch: batchtopk
                widths: [64, 128]
                k: 3
              - arch: jumprelu
                width: 64
                l0_coeff: 0.01
              - arch: relu
                width: 64
                l1: 0.1
            """);
        var r = Saectl.Run("train", "--config", tmp["train.yaml"], "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var results = JsonNode.Parse(r.Stdout)!.AsArray();
        Assert.Equal(4, results.Count);
        foreach (var name in new[] { "batchtopk-w64-k3", "batchtopk-w128-k3", "jumprelu-w64-l0_0.01", "relu-w64-l1_0.1" })
            Assert.True(File.Exists(Path.Combine(tmp["runs"], name, "sae_weights.safetensors")), name);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp["runs"], "batchtopk-w64-k3", "cfg.json")))!;
        Assert.Equal("jumprelu", (string)cfg["architecture"]!); // BatchTopK is saved as a JumpReLU with a shared threshold
        Assert.False(Directory.Exists(Path.Combine(tmp["runs"], "checkpoint")));
        Assert.False(Directory.Exists(Path.Combine(tmp["runs"], "logs")));
        Assert.Single(File.ReadAllLines(Path.Combine(tmp["runs"], "relu-w64-l1_0.1", "train_log.jsonl"))); // 20 steps, log_every 50: the last step
    }

    [Fact]
    public void InterruptedRunResumesFromItsCheckpoint()
    {
        using var tmp = new TempDir();
        MakeShards(tmp["acts"]);
        string[] common = ["train", "--data", tmp["acts"], "--out", tmp["sae"], "--arch", "jumprelu", "--width", "128", "--l0-coeff", "0.01",
            "--batch", "1024", "--checkpoint-every", "20", "--log-every", "10", "--eval-tokens", "2048"];
        string[] args = [.. common, "--tokens", "4096000"];
        using (var p = Process.Start(Saectl.StartInfo(args))!)
        {
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            // wait until training has passed a checkpoint, then Ctrl-C
            string? line;
            while ((line = p.StandardError.ReadLine()) != null)
                if (line.StartsWith("step ") && int.Parse(line.Split(' ', '/')[1]) >= 50) break;
            Assert.NotNull(line);
            Process.Start("kill", ["-INT", p.Id.ToString()])!.WaitForExit();
            string rest = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(60_000));
            Assert.Equal(130, p.ExitCode);
            Assert.Contains("--resume", rest);
        }
        Assert.True(File.Exists(Path.Combine(tmp["sae"], "checkpoint", "trainer.json")));
        Assert.False(File.Exists(Path.Combine(tmp["sae"], "sae_weights.safetensors")));
        var refused = Saectl.Run(args);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--resume", refused.Stderr);
        var resumed = Saectl.Run([.. common, "--tokens", "122880", "--resume"]);
        // a different token budget is a different schedule: refused with the field named
        Assert.NotEqual(0, resumed.ExitCode);
        Assert.Contains("tokens", resumed.Stderr);
        var ok = Saectl.Run([.. args, "--resume", "--quiet"]);
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.True(File.Exists(Path.Combine(tmp["sae"], "sae_weights.safetensors")));
        // the curve covers the whole run once: lines past the checkpoint were dropped on resume
        var steps = File.ReadAllLines(Path.Combine(tmp["sae"], "train_log.jsonl")).Select(l => (long)JsonNode.Parse(l)!["step"]!).ToArray();
        Assert.Equal(Enumerable.Range(1, 400).Select(i => (long)i * 10), steps);
    }

    [Fact]
    public void SaysOnceWhichPrecisionAutoChose_OnlyUnderAuto()
    {
        using var tmp = new TempDir();
        MakeShards(tmp["acts"], shards: 1);
        ProcessStartInfo Train(string outDir, params string[] extra)
        {
            var psi = Saectl.StartInfo(["train", "--data", tmp["acts"], "--out", tmp[outDir], "--arch", "topk", "--width", "32", "--k", "3",
                "--tokens", "2048", "--batch", "1024", "--eval-tokens", "1024", .. extra]);
            psi.Environment["SAECLUSTER_BF16"] = "off"; // no probe: the decision comes from the override
            return psi;
        }
        var auto = Saectl.Run(Train("auto"));
        Assert.True(auto.ExitCode == 0, auto.Stderr);
        Assert.Equal(["precision auto → fp32 (SAECLUSTER_BF16=off)"], auto.Stderr.Split('\n').Where(l => l.StartsWith("precision auto", StringComparison.Ordinal)));
        var fp32 = Saectl.Run(Train("fp32", "--precision", "fp32"));
        Assert.True(fp32.ExitCode == 0, fp32.Stderr);
        Assert.DoesNotContain("precision auto", fp32.Stderr);
    }
}

public class ActivationsCliTests
{
    // the trained tiny Gemma 2 the repository carries (models/), found from this source file
    static string TinyGemma2 => Path.GetFullPath(Path.Combine(Here(), "..", "..", "models", "tiny-gemma2-code"));

    static string Here([System.Runtime.CompilerServices.CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    [Fact]
    public void ModelToActivationsToSae()
    {
        using var tmp = new TempDir();
        Assert.True(Directory.Exists(TinyGemma2), TinyGemma2);
        var pyDir = Directory.GetDirectories("/usr/lib", "python3*").Order().First(d => File.Exists(Path.Combine(d, "json", "encoder.py")));
        var acts = Saectl.Run("activations", "--model", TinyGemma2, "--data", Path.Combine(pyDir, "json", "*.py"),
            "--sites", "res:1,att:2", "--tokens", "20000", "--context", "128", "--chunk-contexts", "32", "--out", tmp["acts"]);
        Assert.True(acts.ExitCode == 0, acts.Stderr);
        Assert.True(Directory.GetFiles(tmp["acts/1.res"]).Length >= 4);
        Assert.True(Directory.GetFiles(tmp["acts/2.att"]).Length >= 4);
        var train = Saectl.Run("train", "--data", tmp["acts/2.att"], "--out", tmp["sae"], "--arch", "batchtopk", "--width", "256",
            "--k", "8", "--tokens", "40960", "--batch", "1024", "--eval-tokens", "4096", "--json");
        Assert.True(train.ExitCode == 0, train.Stderr);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp["sae"], "cfg.json")))!;
        Assert.Equal(192, (int)cfg["d_in"]!); // att: Hq·D = 192
        Assert.Equal("blocks.2.attn.hook_z", (string)cfg["metadata"]!["hook_name"]!);
        Assert.Equal("hook_z", (string)cfg["reshape_activations"]!); // SAELens flattens [.., heads, d_head] inputs
        Assert.Equal("jumprelu", (string)cfg["architecture"]!); // BatchTopK saved for inference with its shared threshold
        Assert.Equal("tiny-gemma2-code", (string)cfg["metadata"]!["model_name"]!);
        Assert.Equal(128, (int)cfg["metadata"]!["context_size"]!);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp["sae"], "metrics.json")))!;
        Assert.InRange((double)metrics["fvu"]!, 0.0, 0.9);
        // a hook_z SAE encodes the heads as [N, heads, d_head] as well as flattened
        string shard = Directory.GetFiles(tmp["acts/2.att"]).Order().First();
        using (var f = SafetensorsFile.Open(shard))
        {
            var x = f.ReadAllAsFloat("acts");
            long rows = f.Get("acts").Shape[0];
            Npy.Write(tmp["flat.npy"], StoredTensor.FromFloat32(x, [rows, 192]));
            Npy.Write(tmp["heads.npy"], StoredTensor.FromFloat32(x, [rows, 4, 48]));
        }
        foreach (var name in new[] { "flat", "heads" })
            Assert.Equal(0, Saectl.Run("sae", "encode", "--sae", tmp["sae"], "--input", tmp[name + ".npy"], "--out", tmp[name + ".npz"]).ExitCode);
        Assert.Equal(Npz.Read(tmp["flat.npz"])["codes"].Data, Npz.Read(tmp["heads.npz"])["codes"].Data);

        // unknown site and missing model folder: one clear error each
        var bad = Saectl.Run("activations", "--model", TinyGemma2, "--data", Path.Combine(pyDir, "json", "*.py"), "--sites", "res:9", "--tokens", "10", "--out", tmp["x"]);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("layer 9 does not exist", bad.Stderr);
        var missing = Saectl.Run("activations", "--model", tmp["nope"], "--data", "x", "--sites", "res:0", "--tokens", "10", "--out", tmp["x"]);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("config.json", missing.Stderr);
        Assert.False(Directory.Exists(tmp["x"]));
    }

    [Fact]
    public async Task AParquetCorpusGivesTheTokensOfTheSameTextsAsJsonl()
    {
        using var tmp = new TempDir();
        var pyDir = Directory.GetDirectories("/usr/lib", "python3*").Order().First(d => File.Exists(Path.Combine(d, "json", "encoder.py")));
        var texts = Directory.GetFiles(Path.Combine(pyDir, "json"), "*.py").Order(StringComparer.Ordinal).Select(File.ReadAllText).ToArray();
        File.WriteAllLines(tmp["corpus.jsonl"], texts.Select(t => new JsonObject { ["text"] = t }.ToJsonString()));
        // two row groups, a null row in each (skipped), and a url column beside the text
        var text = new DataField<string>("text", nullable: true);
        var url = new DataField<string>("url");
        await using (var file = File.Create(tmp["corpus.parquet"]))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, url), file))
            foreach (var part in new[] { texts[..2], texts[2..] })
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(text, [null, .. part]);
                await group.WriteAsync(url, Enumerable.Range(0, part.Length + 1).Select(i => $"u{i}").ToArray());
            }

        string[] Args(string data, string outDir) =>
            ["activations", "--model", TinyGemma2, "--data", data, "--sites", "res:0", "--tokens", "3000", "--context", "128", "--chunk-contexts", "8", "--quiet", "--out", outDir];
        foreach (var (data, outDir) in new[] { ("corpus.jsonl", "jsonl"), ("corpus.parquet", "parquet") })
        {
            var r = Saectl.Run(Args(tmp[data], tmp[outDir]));
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
        var shards = Directory.GetFiles(tmp["jsonl/0.res"]).Select(Path.GetFileName).Order().ToArray();
        Assert.True(shards.Length >= 3);
        Assert.Equal(shards, Directory.GetFiles(tmp["parquet/0.res"]).Select(Path.GetFileName).Order());
        foreach (var shard in shards)
        {
            using var a = SafetensorsFile.Open(Path.Combine(tmp["jsonl/0.res"], shard!));
            using var b = SafetensorsFile.Open(Path.Combine(tmp["parquet/0.res"], shard!));
            Assert.Equal(a.ReadInt32("tokens"), b.ReadInt32("tokens"));
            Assert.Equal(a.ReadInt32("positions"), b.ReadInt32("positions"));
        }

        // a column the file lacks: one line naming the file, the column and the string columns it has
        var missing = Saectl.Run(Args(tmp["corpus.parquet"], tmp["x"]).Append("--text-field").Append("txt").ToArray());
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal($"error: {tmp["corpus.parquet"]}: no column \"txt\" (string columns: text, url)", missing.Stderr.Trim());
        Assert.False(Directory.Exists(tmp["x"]));
    }
}
