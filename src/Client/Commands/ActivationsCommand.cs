using System.CommandLine;
using SaeCluster.Client.Views;
using SaeCluster.Models;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary><c>saectl activations</c>: run a Gemma model over a corpus and write activation shards per site.</summary>
public static class ActivationsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json)", Required = true };
        var data = new Option<string[]>("--data") { Description = "corpus: files, folders or globs (.txt/.py/…: one document per file; .jsonl: one per line; .parquet: one per row, streamed by row group; .u16/.u32: pre-tokenized)", Required = true, AllowMultipleArgumentsPerToken = true };
        var textField = new Option<string>("--text-field") { Description = "JSONL field or Parquet (string) column holding the text", DefaultValueFactory = _ => "text" };
        var sites = new Option<string>("--sites") { Description = "e.g. res:all,mlp:all,att:0-5,attn_out:3", Required = true };
        var tokens = new Option<long>("--tokens") { Description = "activation rows to write per site (the corpus may end sooner)", Required = true };
        var outDir = new Option<string>("--out") { Description = "output folder: one subfolder per site ({layer}.{site})", Required = true };
        var context = new Option<int>("--context") { Description = "tokens per packed context (BOS first)", DefaultValueFactory = _ => 1024 };
        var chunk = new Option<int>("--chunk-contexts") { Description = "contexts per shard", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch-rows") { Description = "contexts per forward pass", DefaultValueFactory = _ => 4 };
        var dtype = new Option<string>("--dtype") { Description = "bf16 | f16 | f32", DefaultValueFactory = _ => "bf16" };
        var precision = new Option<string>("--precision") { Description = "matmul precision: auto (bf16 where this machine runs bf16 GEMMs faster: AMX, else measured at start) | fp32 | bf16; attention, norms and adds stay fp32", DefaultValueFactory = _ => "auto" };
        var quiet = new Option<bool>("--quiet");
        var cmd = new Command("activations", "Capture activations of a Gemma model at the given sites into shards saectl train reads (resumable by chunk)");
        foreach (var o in new Option[] { model, data, textField, sites, tokens, outDir, context, chunk, batch, dtype, precision, quiet }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            string modelDir = pr.GetValue(model)!;
            long maxTokens = pr.GetValue(tokens);
            if (maxTokens < 1) throw new ConfigException("--tokens", "must be ≥ 1");
            int T = pr.GetValue(context), perChunk = pr.GetValue(chunk), rows = pr.GetValue(batch);
            if (T < 2) throw new ConfigException("--context", "must be ≥ 2");
            if (perChunk < 1) throw new ConfigException("--chunk-contexts", "must be ≥ 1");
            if (rows < 1) throw new ConfigException("--batch-rows", "must be ≥ 1");
            var storeAs = CliValues.StorageDtype(pr.GetValue(dtype));
            var config = GemmaConfig.Load(Path.Combine(modelDir, "config.json"));
            SiteSelection selection;
            try { selection = SiteSelection.Parse(pr.GetValue(sites)!, config.Layers); }
            catch (ArgumentException e) { throw new ConfigException("--sites", e.Message.Replace("--sites: ", "")); }
            var corpus = CliValues.Corpus(pr.GetValue(data)!, pr.GetValue(textField)!); // a bad path or missing column fails before the model loads
            string tokenizerPath = Path.Combine(modelDir, "tokenizer.json");
            var tokenizer = GemmaTokenizer.Load(tokenizerPath);
            var gemma = GemmaModel.Load(modelDir, selection.DeepestLayer + 1);
            var matmuls = CliValues.Precision(pr.GetValue(precision));
            gemma.Bf16Matmuls = matmuls.RunsBf16();
            var packer = new ContextPacker(T, config.BosId, config.EosId, config.PadId);
            var documents = corpus.Read(ct).Select(d => d.Tokens ?? tokenizer.Encode(d.Text!, addSpecialTokens: false));
            string outFull = Path.GetFullPath(pr.GetValue(outDir)!);
            var producer = new ActivationProducer(gemma, selection, rows, storeAs, Path.GetFileName(Path.GetFullPath(modelDir)),
                string.Join(", ", pr.GetValue(data)!));
            bool q = pr.GetValue(quiet);
            if (!q && matmuls == EncoderPrecision.Auto) Compute.Bf16Choice.ReportOnce(Console.Error.WriteLine);
            if (!q) Console.Error.WriteLine($"{selection.Pairs.Count} site(s) of {config.ModelType} ({gemma.LoadedLayers} of {config.Layers} layers loaded), {corpus.Files.Count} corpus file(s), contexts of {T}, {(gemma.Bf16Matmuls ? "bf16" : "fp32")} matmuls");
            ActivationProducer.Progress result;
            if (q || !TrainingView.Interactive)
                result = producer.Run(packer.Pack(documents), packer, outFull, perChunk, maxTokens, q ? null : p => Console.Error.WriteLine($"contexts {p.Contexts} tokens {p.Tokens} ({p.TokensPerSecond:F0} tok/s)"), ct);
            else
            {
                result = default;
                AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("activations", maxValue: maxTokens);
                        result = producer.Run(packer.Pack(documents), packer, outFull, perChunk, maxTokens, p =>
                        {
                            task.Value = Math.Min(p.Tokens, maxTokens);
                            task.Description = $"activations {p.Tokens:N0} tok, {p.TokensPerSecond:N0} tok/s";
                        }, ct);
                    });
            }
            if (result.Tokens < maxTokens && !q) Console.Error.WriteLine($"note: the corpus ended after {result.Tokens:N0} tokens (asked for {maxTokens:N0})");
            Console.WriteLine($"{result.Tokens:N0} tokens × {selection.Pairs.Count} site(s) in {outFull}" + (result.ChunksSkipped > 0 ? $" ({result.ChunksSkipped} chunk(s) already there)" : ""));
            return 0;
        }));
        return cmd;
    }
}
