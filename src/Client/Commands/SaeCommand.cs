using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl sae info | convert | encode</c>: SAE files from and for the ecosystem (SAELens, Gemma Scope,
/// dictionary_learning, sparsify, FunctionGemma), inspected, converted, and run on activations.
/// </summary>
public static class SaeCommand
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create()
    {
        var cmd = new Command("sae", "SAE files in every format SaeCluster knows: inspect, convert, encode activations");
        cmd.Subcommands.Add(Info());
        cmd.Subcommands.Add(Convert());
        cmd.Subcommands.Add(SaeEncodeCommand.Create());
        return cmd;
    }

    internal static Option<string?> FormatOption() => new("--format") { Description = $"the SAE's format, when detection should not decide: {SaeFormatNames.Choices}" };

    internal static LoadedSae Load(string path, string? format) =>
        SaeFiles.Read(path, format is string f ? SaeFormatNames.Parse(f, "--format") : null);

    static Command Info()
    {
        var path = new Argument<string>("path") { Description = "the SAE: its folder or any of its files" };
        var format = FormatOption();
        var json = new Option<bool>("--json") { Description = "print the facts as JSON" };
        var cmd = new Command("info", "Format, architecture, shapes, sparsity rule, hook and model of an SAE file");
        cmd.Arguments.Add(path);
        cmd.Options.Add(format);
        cmd.Options.Add(json);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var sae = Load(pr.GetValue(path)!, pr.GetValue(format));
            var facts = Facts(sae);
            if (pr.GetValue(json)) Console.WriteLine(facts.ToJsonString(Indented));
            else
            {
                var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
                foreach (var (key, value) in facts)
                    if (value != null) grid.AddRow(new Text(key), new Text(value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value.ToJsonString()));
                AnsiConsole.Write(grid);
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>What <c>sae info</c> reports.</summary>
    public static JsonObject Facts(LoadedSae sae)
    {
        var w = sae.Weights;
        var p = w.Provenance;
        var norms = w.DecoderRowNorms();
        var o = new JsonObject
        {
            ["path"] = sae.Location,
            ["format"] = sae.Format.ToName(),
            ["format_detail"] = $"{sae.Format.Title()}: {sae.Detail}",
            ["architecture"] = w.Architecture.ToName(),
            ["d_in"] = w.DIn,
            ["d_sae"] = w.DSae,
            ["k"] = w.K > 0 ? w.K : null,
        };
        if (w.Threshold != null)
        {
            if (w.SharedThreshold is float shared) o["threshold"] = $"shared θ = {shared:G6}";
            else
            {
                var sorted = w.Threshold.Order().ToArray();
                o["threshold"] = $"per latent: min {sorted[0]:G4}, median {sorted[sorted.Length / 2]:G4}, max {sorted[^1]:G4}";
            }
        }
        o["encoding"] = w.Architecture switch
        {
            SaeArchitecture.Relu => "f = relu(pre)",
            SaeArchitecture.TopK => $"f = top-{w.K} of relu(pre) per token",
            _ => "f = relu(pre)·[pre > θ]",
        } + (w.ApplyBDecToInput ? ", pre = (x − b_dec)·W_enc + b_enc" : ", pre = x·W_enc + b_enc");
        o["normalize_activations"] = w.Normalization.ToName();
        o["hook"] = p.HookName;
        o["hf_module"] = p.HfModule;
        o["layer"] = p.Layer;
        o["model"] = p.ModelName;
        o["context_size"] = p.ContextSize;
        o["dataset"] = p.DatasetPath;
        o["dtype"] = w.StoredDtype.HeaderName();
        o["decoder_row_norms"] = w.HasUnitDecoderRows() ? "unit" : $"min {norms.Min():G4}, max {norms.Max():G4}";
        if (w.LogSparsity != null)
        {
            int dead = w.LogSparsity.Count(v => v <= -9.99f);
            o["dead_latents"] = $"{dead:N0} of {w.DSae:N0} never fired (sparsity.safetensors)";
        }
        return o;
    }

    static Command Convert()
    {
        var path = new Argument<string>("path") { Description = "the SAE: its folder or any of its files" };
        var format = FormatOption();
        var to = new Option<string>("--to") { Description = $"the format to write: {SaeFormatNames.Choices}", Required = true };
        var outDir = new Option<string>("--out") { Description = "the folder to write (created; replaced only with --overwrite)", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace what --out holds" };
        var cmd = new Command("convert", "Write an SAE in another format: the same codes and reconstructions, in that library's layout");
        cmd.Arguments.Add(path);
        foreach (var o in new Option[] { format, to, outDir, overwrite }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var target = SaeFormatNames.Parse(pr.GetValue(to)!, "--to");
            var sae = Load(pr.GetValue(path)!, pr.GetValue(format));
            if (SaeFiles.CannotWrite(sae.Weights, target) is string why)
                throw new ConfigException("--to", $"{sae.Location} has no {target.Title()} form: {why}");
            var (written, note) = SaeFiles.Write(sae.Weights, target, pr.GetValue(outDir)!, pr.GetValue(overwrite));
            Console.WriteLine($"{sae.Format.Title()} {sae.Weights.Architecture.ToName()} [{sae.Weights.DIn} → {sae.Weights.DSae}] → {target.Title()}: {written}");
            if (note != null) Console.Error.WriteLine($"note: {note}");
            return 0;
        }));
        return cmd;
    }
}
