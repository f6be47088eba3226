using System.CommandLine;
using SaeCluster.Compute;
using SaeCluster.Sae;
using Spectre.Console;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl sae encode</c>: activations (<c>.npy</c>, or <c>.safetensors</c> with <c>acts</c> [N, d_in], f32/f16/bf16)
/// through an SAE in any format → dense <c>codes</c> [N, d_sae] and <c>recon</c> [N, d_in] as <c>.npz</c> or
/// <c>.safetensors</c>, computed as the SAE's own library computes them.
/// </summary>
public static class SaeEncodeCommand
{
    const int BlockRows = 2048;

    public static Command Create()
    {
        var sae = new Option<string>("--sae") { Description = "the SAE: its folder or any of its files, in any format saectl sae info reads", Required = true };
        var format = SaeCommand.FormatOption();
        var input = new Option<string>("--input") { Description = "activations: .npy [N, d_in], or .safetensors with a tensor 'acts' [N, d_in] (an activation shard); f32, f16 or bf16", Required = true };
        var output = new Option<string>("--out") { Description = "output file: .npz or .safetensors with codes [N, d_sae] and recon [N, d_in] (float32)", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace --out if it exists" };
        var quiet = new Option<bool>("--quiet") { Description = "no progress output" };
        var cmd = new Command("encode", "Encode activations with an SAE: dense codes and reconstructions");
        foreach (var o in new Option[] { sae, format, input, output, overwrite, quiet }) cmd.Options.Add(o);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
            Execute(pr.GetValue(sae)!, pr.GetValue(format), pr.GetValue(input)!, pr.GetValue(output)!, pr.GetValue(overwrite), pr.GetValue(quiet), ct)));
        return cmd;
    }

    static int Execute(string saePath, string? format, string inputPath, string outPath, bool overwrite, bool quiet, CancellationToken ct)
    {
        outPath = Path.GetFullPath(outPath);
        string ext = Path.GetExtension(outPath).ToLowerInvariant();
        if (ext is not (".npz" or ".safetensors")) throw new ConfigException("--out", $"{outPath}: write .npz or .safetensors");
        if (File.Exists(outPath) && !overwrite) throw new ConfigException("--out", $"{outPath} exists (pass --overwrite to replace it)");
        if (Directory.Exists(outPath)) throw new ConfigException("--out", $"{outPath} is a folder");
        var loaded = SaeCommand.Load(saePath, format);
        var w = loaded.Weights;
        var (x, rows) = ReadInput(Path.GetFullPath(inputPath), w);

        var codes = new float[rows * w.DSae];
        var recon = new float[rows * w.DIn];
        void EncodeAll(Action<int>? advance)
        {
            for (int r0 = 0; r0 < rows; r0 += BlockRows)
            {
                ct.ThrowIfCancellationRequested();
                int n = Math.Min(BlockRows, rows - r0);
                w.Encode(x.AsSpan(r0 * w.DIn, n * w.DIn), n, codes.AsSpan(r0 * w.DSae, n * w.DSae), recon.AsSpan(r0 * w.DIn, n * w.DIn));
                advance?.Invoke(n);
            }
        }
        if (quiet || Console.IsErrorRedirected) EncodeAll(null);
        else
            AnsiConsole.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx => { var task = ctx.AddTask("encoding", maxValue: rows); EncodeAll(n => task.Increment(n)); });

        if (ext == ".npz")
            Npz.Write(outPath, [new("codes", StoredTensor.FromFloat32(codes, [rows, w.DSae])), new("recon", StoredTensor.FromFloat32(recon, [rows, w.DIn]))]);
        else
        {
            var sf = new SafetensorsWriter();
            sf.AddBorrowed("codes", codes, [rows, w.DSae]);
            sf.AddBorrowed("recon", recon, [rows, w.DIn]);
            sf.Write(outPath);
        }
        var (l0, fvu) = Summary(x, codes, recon, rows, w);
        Console.WriteLine($"{rows:N0} rows through {loaded.Format.Title()} {w.Architecture.ToName()} [{w.DIn} → {w.DSae}]: L0 {l0:F2}, FVU {fvu:F4} → {outPath}");
        return 0;
    }

    /// <summary>The activations as float32 [rows, d_in]; a hook_z SAE also takes [rows, heads, d_head].</summary>
    static (float[] X, int Rows) ReadInput(string path, SaeWeights w)
    {
        if (!File.Exists(path)) throw new DataException(path, "no such file");
        long[] shape;
        float[] x;
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".npy")
        {
            var t = Npy.Read(path);
            if (t.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.F64))
                throw new DataException(path, $"activations are {t.Dtype}; expected float32, float16 or float64");
            shape = t.Shape;
            x = t.ToFloat32();
        }
        else if (ext == ".safetensors")
        {
            using var f = SafetensorsFile.Open(path);
            if (!f.TryGet("acts", out var info)) throw new DataException(path, $"no tensor 'acts' (it has {string.Join(", ", f.Tensors.Select(t => t.Name))})");
            if (info.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
                throw new DataException(path, $"acts is {info.Dtype}; expected F32, F16 or BF16");
            shape = info.Shape;
            x = f.ReadAllAsFloat("acts");
        }
        else throw new ConfigException("--input", $"{path}: read .npy or .safetensors");
        long width = shape.Length >= 2 ? shape[1..].Aggregate(1L, (a, b) => a * b) : -1;
        bool ok = shape.Length == 2 ? width == w.DIn : shape.Length == 3 && w.HookZ && width == w.DIn;
        if (!ok) throw new DataException(path, $"activations have shape [{string.Join(", ", shape)}]; the SAE takes [N, {w.DIn}]{(w.HookZ ? " or [N, heads, d_head]" : "")}");
        if (shape[0] > int.MaxValue / Math.Max(w.DSae, w.DIn)) throw new DataException(path, $"{shape[0]:N0} rows are more than one call encodes; split the file");
        int bad = Array.FindIndex(x, v => !float.IsFinite(v));
        if (bad >= 0) throw new DataException(path, $"activations hold {x[bad]} at row {bad / w.DIn}, column {bad % w.DIn}");
        return (x, (int)shape[0]);
    }

    static (double L0, double Fvu) Summary(float[] x, float[] codes, float[] recon, int rows, SaeWeights w)
    {
        long active = 0;
        foreach (float c in codes) if (c != 0) active++;
        return (active / (double)Math.Max(1, rows), PooledFvu.Of(x, recon, rows, w.DIn));
    }
}
