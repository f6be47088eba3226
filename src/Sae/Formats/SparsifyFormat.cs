using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// EleutherAI sparsify (../shared/reference/sae-formats.md §6): a folder per hookpoint holding <c>cfg.json</c>
/// (SparseCoderConfig + d_in) and <c>sae.safetensors</c> (<c>encoder.weight</c> [d_sae, d_in], <c>encoder.bias</c>,
/// <c>W_dec</c> [d_sae, d_in], <c>b_dec</c>). Per-row top-k of relu((x − b_dec)·encoder.weightᵀ + encoder.bias);
/// b_dec is always subtracted unless the coder is a transcoder.
/// </summary>
public static class SparsifyFormat
{
    public const string CfgFile = "cfg.json", WeightsFile = "sae.safetensors";

    static readonly JsonSerializerOptions Compact = new();

    /// <summary>Whether <paramref name="folder"/> holds a sparsify coder (its cfg.json has num_latents or expansion_factor).</summary>
    public static bool Matches(string folder)
    {
        string cfg = Path.Combine(folder, CfgFile);
        if (!File.Exists(cfg) || !File.Exists(Path.Combine(folder, WeightsFile))) return false;
        try { return JsonNode.Parse(File.ReadAllText(cfg)) is JsonObject o && (o.ContainsKey("num_latents") || o.ContainsKey("expansion_factor")); }
        catch (JsonException) { return false; }
    }

    /// <summary>The hookpoint folders under a sparsify run root.</summary>
    public static string[] Hookpoints(string root) => Directory.Exists(root)
        ? Directory.GetDirectories(root).Where(Matches).Order(StringComparer.Ordinal).ToArray()
        : [];

    public static (SaeWeights Weights, string Detail) Read(string folder)
    {
        string cfgPath = Path.Combine(folder, CfgFile);
        var cfg = JsonFields.Open(cfgPath);
        int dIn = cfg.RequiredInt("d_in");
        int numLatents = cfg.Int("num_latents") ?? 0, expansion = cfg.Int("expansion_factor") ?? 32;
        int dSae = numLatents != 0 ? numLatents : dIn * expansion;
        int k = cfg.Int("k") ?? 32;
        string activation = cfg.String("activation") ?? "topk"; // files from 2024 have no activation field
        if (activation != "topk") throw new DataException(cfgPath, $"activation: '{activation}' is not supported (topk is)");
        if (cfg.Bool("skip_connection") == true) throw new DataException(cfgPath, "skip_connection: coders with a skip connection (W_skip) are not supported");
        bool transcode = cfg.Bool("transcode") == true;
        if (dIn < 1 || dSae < 1) throw new DataException(cfgPath, $"d_in = {dIn} and d_sae = {dSae} must both be ≥ 1");
        if (k < 1 || k > dSae) throw new DataException(cfgPath, $"k = {k} must be in 1..d_sae ({dSae})");

        string weightsPath = Path.Combine(folder, WeightsFile);
        using var f = SafetensorsFile.Open(weightsPath);
        string from = $"{CfgFile} d_in = {dIn}, d_sae = {dSae}";
        var encoder = TensorReads.Float(f, "encoder.weight", [dSae, dIn], from);
        var w = new SaeWeights(SaeArchitecture.TopK, dIn, dSae, k,
            TensorReads.Transpose(encoder, dSae, dIn),
            TensorReads.Float(f, "encoder.bias", [dSae], from),
            TensorReads.Float(f, "W_dec", [dSae, dIn], from),
            TensorReads.Float(f, "b_dec", [dIn], from),
            null)
        {
            ApplyBDecToInput = !transcode,
            StoredDtype = TensorReads.FirstDtype(f),
            Provenance = new SaeProvenance(HookName: SaeProvenance.HookNameFromSparsify(Path.GetFileName(Path.GetFullPath(folder)))),
        };
        var names = new Dictionary<string, string> { ["W_enc"] = "encoder.weight", ["b_enc"] = "encoder.bias" };
        return (w.Validate(weightsPath, names), $"hookpoint {Path.GetFileName(Path.GetFullPath(folder))}{(transcode ? ", transcoder" : "")}");
    }

    /// <summary>Writes <c>{folder}/{hookpoint}/cfg.json</c> and <c>sae.safetensors</c>; returns the hookpoint folder.</summary>
    public static string Write(SaeWeights w, string folder)
    {
        if (SaeFiles.CannotWrite(w.Architecture, SaeFormat.Sparsify) is string why) throw new InvalidOperationException(why);
        w = w.WithBDecOnInput(); // sparsify always subtracts b_dec
        string dir = Path.Combine(folder, w.Provenance.SparsifyHookpoint);
        Directory.CreateDirectory(dir);
        var store = w.StoredDtype is SafetensorsDtype.F16 or SafetensorsDtype.BF16 ? w.StoredDtype : SafetensorsDtype.F32;
        var sf = new SafetensorsWriter();
        sf.AddBorrowed("encoder.weight", TensorReads.Transpose(w.WEnc, w.DIn, w.DSae), [w.DSae, w.DIn], store);
        sf.AddBorrowed("encoder.bias", w.BEnc, [w.DSae], store);
        sf.AddBorrowed("W_dec", w.WDec, [w.DSae, w.DIn], store);
        sf.AddBorrowed("b_dec", w.BDec, [w.DIn], store);
        sf.Metadata["format"] = "pt"; // safetensors.torch.save_model writes it
        sf.Write(Path.Combine(dir, WeightsFile));
        var cfg = new JsonObject
        {
            ["activation"] = "topk",
            ["expansion_factor"] = Math.Max(1, w.DSae / w.DIn),
            ["normalize_decoder"] = w.HasUnitDecoderRows(),
            ["num_latents"] = w.DSae,
            ["k"] = w.K,
            ["multi_topk"] = false,
            ["skip_connection"] = false,
            ["transcode"] = false,
            ["d_in"] = w.DIn,
        };
        File.WriteAllText(Path.Combine(dir, CfgFile), cfg.ToJsonString(Compact));
        return dir;
    }
}
