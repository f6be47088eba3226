using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// The FunctionGemma-270M SAE release (../shared/reference/sae-formats.md §5): <c>sae_layer_NN.pt</c>, a plain
/// torch.save dict {model_name, layer_idx, d_in, d_sae, W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec,
/// history {loss, mse, l0}}. f = relu(x·W_enc + b_enc); x̂ = f·W_dec + b_dec. Its SAEs read o_proj's output.
/// </summary>
public static class FunctionGemmaFormat
{
    public static string FileName(int layer) => $"sae_layer_{layer:D2}.pt";

    public static bool IsFileName(string name) => name.StartsWith("sae_layer_") && name.EndsWith(".pt");

    public static (SaeWeights Weights, string Detail) Read(string file)
    {
        var d = TorchPickles.Dict(TorchFile.Read(file), file);
        int dIn = checked((int)TorchPickles.Int(d, "d_in", file)), dSae = checked((int)TorchPickles.Int(d, "d_sae", file));
        if (dIn < 1 || dSae < 1) throw new DataException(file, $"d_in = {dIn} and d_sae = {dSae} must both be ≥ 1");
        string from = $"d_in = {dIn}, d_sae = {dSae}";
        float[] F(string key, params long[] shape) => TensorReads.Float(TorchPickles.Tensor(d, key, file), file, key, shape, from);
        int? layer = d.ContainsKey("layer_idx") ? checked((int)TorchPickles.Int(d, "layer_idx", file)) : null;
        var w = new SaeWeights(SaeArchitecture.Relu, dIn, dSae, 0, F("W_enc", dIn, dSae), F("b_enc", dSae), F("W_dec", dSae, dIn), F("b_dec", dIn), null)
        {
            ApplyBDecToInput = false,
            StoredDtype = TorchPickles.Tensor(d, "W_enc", file).Dtype,
            Provenance = new SaeProvenance(
                ModelName: TorchPickles.String(d, "model_name", file),
                HookName: layer is int l ? SaeProvenance.HookNameFor(l, "attn_out") : null),
        };
        int steps = d.TryGetValue("history", out var h) && h is OrderedDictionary<string, object?> hist && hist.TryGetValue("loss", out var loss) && loss is List<object?> ls ? ls.Count : 0;
        return (w.Validate(file), steps > 0 ? $"history of {steps} steps" : "no training history");
    }

    /// <summary>Writes <c>sae_layer_NN.pt</c> into <paramref name="folder"/>, with the training curve if there is one.</summary>
    public static string Write(SaeWeights w, string folder, TrainingHistory? history = null)
    {
        if (SaeFiles.CannotWrite(w.Architecture, SaeFormat.FunctionGemma) is string why) throw new InvalidOperationException(why);
        w = w.WithoutBDecOnInput();
        int layer = w.Provenance.Layer ?? 0;
        static List<object?> Values(IReadOnlyList<double>? v) => v?.Select(x => (object?)x).ToList() ?? [];
        var dict = new OrderedDictionary<string, object?>
        {
            ["model_name"] = w.Provenance.ModelName ?? "",
            ["layer_idx"] = (long)layer,
            ["d_in"] = (long)w.DIn,
            ["d_sae"] = (long)w.DSae,
            ["W_enc"] = StoredTensor.FromFloat32(w.WEnc, [w.DIn, w.DSae]),
            ["b_enc"] = StoredTensor.FromFloat32(w.BEnc, [w.DSae]),
            ["W_dec"] = StoredTensor.FromFloat32(w.WDec, [w.DSae, w.DIn]),
            ["b_dec"] = StoredTensor.FromFloat32(w.BDec, [w.DIn]),
            ["history"] = new OrderedDictionary<string, object?>
            {
                ["loss"] = Values(history?.Loss),
                ["mse"] = Values(history?.Mse),
                ["l0"] = Values(history?.L0),
            },
        };
        string path = Path.Combine(folder, FileName(layer));
        TorchFile.Write(path, dict);
        return path;
    }
}

