using System.Text.RegularExpressions;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// Gemma Scope (../shared/reference/sae-formats.md §3): one <c>params.npz</c> with <c>W_enc</c> [d_in, d_sae],
/// <c>W_dec</c> [d_sae, d_in], <c>b_enc</c>, <c>b_dec</c>, <c>threshold</c>; no config file.
/// f = relu(pre)·[pre > θ] with pre = x·W_enc + b_enc (b_dec is not subtracted). Where the SAE sits is read
/// from the release's path (<c>gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82/params.npz</c>).
/// </summary>
public static partial class GemmaScopeFormat
{
    public const string ParamsFile = "params.npz";

    public static (SaeWeights Weights, string Detail) Read(string file)
    {
        var arrays = Npz.Read(file);
        StoredTensor Get(string name) =>
            arrays.TryGetValue(name, out var t) || arrays.TryGetValue(name.ToLowerInvariant(), out t) ? t // SAELens accepts w_enc / w_dec
            : throw new DataException(file, $"no array '{name}' (it has {string.Join(", ", arrays.Keys)})");
        var wEncT = Get("W_enc");
        if (wEncT.Shape.Length != 2) throw new DataException(file, $"W_enc must be 2-D, has shape {TensorReads.Shape(wEncT.Shape)}");
        int dIn = checked((int)wEncT.Shape[0]), dSae = checked((int)wEncT.Shape[1]);
        string from = $"W_enc is {TensorReads.Shape(wEncT.Shape)}";
        float[] F(string name, params long[] shape) => TensorReads.Float(Get(name), file, name, shape, from);
        var wDec = F("W_dec", dSae, dIn);
        bool scaled = false;
        if (arrays.ContainsKey("scaling_factor"))
        {
            var s = F("scaling_factor", dSae);
            if (s.Any(v => v != 1f)) // an all-ones factor is dropped; any other scales the codes before decoding
            {
                for (int j = 0; j < dSae; j++) for (int i = 0; i < dIn; i++) wDec[(long)j * dIn + i] *= s[j];
                scaled = true;
            }
        }
        var w = new SaeWeights(SaeArchitecture.JumpRelu, dIn, dSae, 0, F("W_enc", dIn, dSae), F("b_enc", dSae), wDec, F("b_dec", dIn), F("threshold", dSae))
        {
            ApplyBDecToInput = false,
            StoredDtype = wEncT.Dtype,
            Provenance = ProvenanceFromPath(file),
        };
        return (w.Validate(file), "params.npz" + (scaled ? "; scaling_factor folded into W_dec" : ""));
    }

    public static string Write(SaeWeights w, string folder)
    {
        if (SaeFiles.CannotWrite(w.Architecture, SaeFormat.GemmaScope) is string why) throw new InvalidOperationException(why);
        w = w.WithoutBDecOnInput();
        var threshold = w.Threshold ?? new float[w.DSae]; // relu(pre)·[pre > 0] = relu(pre)
        string path = Path.Combine(folder, ParamsFile);
        Npz.Write(path,
        [
            new("W_enc", StoredTensor.FromFloat32(w.WEnc, [w.DIn, w.DSae])),
            new("W_dec", StoredTensor.FromFloat32(w.WDec, [w.DSae, w.DIn])),
            new("b_enc", StoredTensor.FromFloat32(w.BEnc, [w.DSae])),
            new("b_dec", StoredTensor.FromFloat32(w.BDec, [w.DIn])),
            new("threshold", StoredTensor.FromFloat32(threshold, [w.DSae])),
        ]);
        return path;
    }

    /// <summary>Model, layer and site from a Gemma Scope path; unknown parts stay null.</summary>
    public static SaeProvenance ProvenanceFromPath(string file)
    {
        string p = Path.GetFullPath(file).Replace('\\', '/');
        int? layer = Layer().Match(p) is { Success: true } m ? int.Parse(m.Groups[1].Value) : null;
        var release = Release().Match(p);
        string? model = release.Success ? $"gemma-2-{release.Groups[1].Value}" : null;
        string? site = release.Success ? release.Groups[3].Value switch { "res" => "res", "mlp" => "mlp", "att" => "att", _ => null } : null;
        return new SaeProvenance(ModelName: model, HookName: layer is int l && site != null ? SaeProvenance.HookNameFor(l, site) : null);
    }

    [GeneratedRegex(@"/layer_(\d+)/")]
    private static partial Regex Layer();

    [GeneratedRegex(@"gemma-scope-(\d+b)-(pt|it)-(res|mlp|att)")]
    private static partial Regex Release();
}
