using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// dictionary_learning trainer folders (../shared/reference/sae-formats.md §4): <c>ae.pt</c> (a torch.save dict
/// of the state_dict, tensors possibly strided) and <c>config.json</c>, whose <c>trainer.dict_class</c> says
/// which class it is: AutoEncoder (ReLU; b_dec is called <c>bias</c>), AutoEncoderTopK (per-row top-k of relu),
/// BatchTopKSAE (one global threshold on relu(pre) at inference) or JumpReluAutoEncoder (no b_dec on the input).
/// Reading an AutoEncoder normalises its decoder as <c>load_dictionary</c> does, so codes match the library's.
/// </summary>
public static class DictionaryLearningFormat
{
    public const string WeightsFile = "ae.pt", ConfigFile = "config.json";

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, IndentSize = 4 };

    public static bool Matches(string folder) => File.Exists(Path.Combine(folder, WeightsFile)) && File.Exists(Path.Combine(folder, ConfigFile));

    public static (SaeWeights Weights, string Detail) Read(string weightsPath, string configPath)
    {
        var config = JsonFields.Open(configPath);
        var trainer = config.Object("trainer") ?? throw new DataException(configPath, "trainer: missing");
        string dictClass = trainer.RequiredString("dict_class");
        var root = TorchFile.Read(weightsPath);
        if (root is OrderedDictionary<string, object?> ckpt && ckpt.TryGetValue("ae", out var inner) && ckpt.ContainsKey("step"))
            root = inner; // a backup written during training: {"step", "ae": state_dict, "optimizer", …}
        if (root is not OrderedDictionary<string, object?> state)
            throw new DataException(weightsPath, $"expected a dict of tensors, found {TorchPickles.Describe(root)}");

        StoredTensor T(string key) => TorchPickles.Tensor(state, key, weightsPath);
        (int DIn, int DSae) Dims(string key, bool dSaeFirst)
        {
            var t = T(key);
            if (t.Shape.Length != 2) throw new DataException(weightsPath, $"{key} must be 2-D, has shape {TensorReads.Shape(t.Shape)}");
            return dSaeFirst ? (checked((int)t.Shape[1]), checked((int)t.Shape[0])) : (checked((int)t.Shape[0]), checked((int)t.Shape[1]));
        }
        float[] F(string key, string from, params long[] shape) => TensorReads.Float(T(key), weightsPath, key, shape, from);
        void CheckConfig(int dIn, int dSae)
        {
            if (trainer.Int("activation_dim") is int a && a != dIn)
                throw new DataException(configPath, $"trainer.activation_dim = {a} but {WeightsFile} has d_in = {dIn}");
            if (trainer.Int("dict_size") is int s && s != dSae)
                throw new DataException(configPath, $"trainer.dict_size = {s} but {WeightsFile} has d_sae = {dSae}");
        }
        var provenance = ReadProvenance(trainer, config.Object("buffer"));
        var names = new Dictionary<string, string>();
        SaeWeights w;
        string detail = dictClass;
        switch (dictClass)
        {
            case "AutoEncoder":
            {
                var (dIn, dSae) = Dims("encoder.weight", dSaeFirst: true);
                CheckConfig(dIn, dSae);
                string from = $"encoder.weight is [{dSae}, {dIn}]";
                w = new SaeWeights(SaeArchitecture.Relu, dIn, dSae, 0,
                    TensorReads.Transpose(F("encoder.weight", from, dSae, dIn), dSae, dIn), F("encoder.bias", from, dSae),
                    TensorReads.Transpose(F("decoder.weight", from, dIn, dSae), dIn, dSae), F("bias", from, dIn), null)
                { ApplyBDecToInput = true, StoredDtype = T("encoder.weight").Dtype, Provenance = provenance };
                names = new() { ["W_enc"] = "encoder.weight", ["b_enc"] = "encoder.bias", ["W_dec"] = "decoder.weight", ["b_dec"] = "bias" };
                w.Validate(weightsPath, names);
                if (!w.HasUnitDecoderRows())
                {
                    w = w.WithUnitDecoderRows(w.DecoderRowNorms()); // AutoEncoder.from_pretrained → normalize_decoder()
                    detail += "; decoder normalised on load, as load_dictionary does (codes scale by the column norms)";
                }
                break;
            }
            case "AutoEncoderTopK" or "BatchTopKSAE":
            {
                var (dIn, dSae) = Dims("encoder.weight", dSaeFirst: true);
                CheckConfig(dIn, dSae);
                string from = $"encoder.weight is [{dSae}, {dIn}]";
                var kT = T("k");
                if (kT.Shape.Length != 0 && kT.Shape.Aggregate(1L, (a, b) => a * b) != 1) throw new DataException(weightsPath, $"k must be a scalar, has shape {TensorReads.Shape(kT.Shape)}");
                long k = kT.ScalarAsInt64();
                if (k < 1 || k > dSae) throw new DataException(weightsPath, $"k = {k} must be in 1..d_sae ({dSae})");
                if (trainer.Int("k") is int ck && ck != k)
                    throw new DataException(configPath, $"trainer.k = {ck} but the k buffer in {WeightsFile} is {k} (dictionary_learning refuses to load it)");
                float theta = (float)T("threshold").ScalarAsDouble();
                bool batch = dictClass == "BatchTopKSAE";
                w = new SaeWeights(batch ? SaeArchitecture.BatchTopK : SaeArchitecture.TopK, dIn, dSae, (int)k,
                    TensorReads.Transpose(F("encoder.weight", from, dSae, dIn), dSae, dIn), F("encoder.bias", from, dSae),
                    TensorReads.Transpose(F("decoder.weight", from, dIn, dSae), dIn, dSae), F("b_dec", from, dIn),
                    batch ? Enumerable.Repeat(theta, dSae).ToArray() : null) // AutoEncoderTopK's threshold is not used by encode
                { ApplyBDecToInput = true, StoredDtype = T("encoder.weight").Dtype, Provenance = provenance };
                names = new() { ["W_enc"] = "encoder.weight", ["b_enc"] = "encoder.bias", ["W_dec"] = "decoder.weight" };
                if (batch) detail += theta < 0 ? $"; threshold {theta:G4} was never estimated, so it acts as a plain ReLU" : $"; threshold {theta:G6}";
                break;
            }
            case "JumpReluAutoEncoder":
            {
                var (dIn, dSae) = Dims("W_enc", dSaeFirst: false);
                CheckConfig(dIn, dSae);
                string from = $"W_enc is [{dIn}, {dSae}]";
                w = new SaeWeights(SaeArchitecture.JumpRelu, dIn, dSae, 0, F("W_enc", from, dIn, dSae), F("b_enc", from, dSae),
                    F("W_dec", from, dSae, dIn), F("b_dec", from, dIn), F("threshold", from, dSae))
                { ApplyBDecToInput = false, StoredDtype = T("W_enc").Dtype, Provenance = provenance };
                break;
            }
            case "GatedAutoEncoder" or "AutoEncoderNew" or "MatryoshkaBatchTopKSAE":
                throw new DataException(configPath, $"trainer.dict_class: {dictClass} is not supported (AutoEncoder, AutoEncoderTopK, BatchTopKSAE and JumpReluAutoEncoder are)");
            default:
                throw new DataException(configPath, $"trainer.dict_class: unknown '{dictClass}' (expected AutoEncoder, AutoEncoderTopK, BatchTopKSAE or JumpReluAutoEncoder)");
        }
        return (w.Validate(weightsPath, names), detail);
    }

    static SaeProvenance ReadProvenance(JsonFields trainer, JsonFields? buffer)
    {
        int? layer = trainer.Int("layer");
        string? submodule = trainer.String("submodule_name");
        string? site = submodule == null ? null
            : submodule.StartsWith("resid_post") ? "res"
            : submodule.StartsWith("mlp_out") ? "mlp"
            : submodule.StartsWith("attn_out") ? "attn_out"
            : submodule.StartsWith("attn_z") ? "att"
            : null;
        return new SaeProvenance(
            ModelName: trainer.String("lm_name"),
            HookName: layer is int l && site != null ? SaeProvenance.HookNameFor(l, site) : null,
            ContextSize: buffer?.Int("ctx_len"));
    }

    /// <summary>The dict_class an SAE is written as.</summary>
    public static string DictClass(SaeArchitecture a) => a switch
    {
        SaeArchitecture.Relu => "AutoEncoder",
        SaeArchitecture.TopK => "AutoEncoderTopK",
        SaeArchitecture.BatchTopK => "BatchTopKSAE",
        _ => "JumpReluAutoEncoder",
    };

    /// <summary>
    /// Writes <c>ae.pt</c> and <c>config.json</c> into <paramref name="folder"/>. A ReLU SAE's decoder is written
    /// with unit-norm columns (the library normalises it on load anyway), so its codes scale by the old norms;
    /// <paramref name="note"/> says so.
    /// </summary>
    public static string Write(SaeWeights w, string folder, out string? note)
    {
        note = null;
        string dictClass = DictClass(w.Architecture);
        var state = new OrderedDictionary<string, object?>();
        StoredTensor Tf(float[] a, params long[] shape) => StoredTensor.FromFloat32(a, shape);
        switch (w.Architecture)
        {
            case SaeArchitecture.Relu:
                w = w.WithBDecOnInput();
                if (!w.HasUnitDecoderRows())
                {
                    w = w.WithUnitDecoderRows(w.DecoderRowNorms());
                    note = "dictionary_learning normalises an AutoEncoder's decoder on load: written with unit-norm columns, so codes scale by the old row norms (reconstructions are unchanged)";
                }
                state["bias"] = Tf(w.BDec, w.DIn);
                state["encoder.weight"] = Tf(TensorReads.Transpose(w.WEnc, w.DIn, w.DSae), w.DSae, w.DIn);
                state["encoder.bias"] = Tf(w.BEnc, w.DSae);
                state["decoder.weight"] = Tf(TensorReads.Transpose(w.WDec, w.DSae, w.DIn), w.DIn, w.DSae);
                break;
            case SaeArchitecture.TopK or SaeArchitecture.BatchTopK:
                w = w.WithBDecOnInput();
                float theta = w.Architecture == SaeArchitecture.BatchTopK
                    ? w.SharedThreshold ?? throw new InvalidOperationException("a BatchTopK SAE has one shared threshold")
                    : -1f; // AutoEncoderTopK's initial value; its encode does not read it
                state["b_dec"] = Tf(w.BDec, w.DIn);
                state["k"] = StoredTensor.Scalar(w.K);
                state["threshold"] = StoredTensor.ScalarFloat(theta);
                state["decoder.weight"] = Tf(TensorReads.Transpose(w.WDec, w.DSae, w.DIn), w.DIn, w.DSae);
                state["encoder.weight"] = Tf(TensorReads.Transpose(w.WEnc, w.DIn, w.DSae), w.DSae, w.DIn);
                state["encoder.bias"] = Tf(w.BEnc, w.DSae);
                break;
            default:
                w = w.WithoutBDecOnInput();
                state["W_enc"] = Tf(w.WEnc, w.DIn, w.DSae);
                state["b_enc"] = Tf(w.BEnc, w.DSae);
                state["W_dec"] = Tf(w.WDec, w.DSae, w.DIn);
                state["b_dec"] = Tf(w.BDec, w.DIn);
                state["threshold"] = Tf(w.Threshold!, w.DSae);
                break;
        }
        string path = Path.Combine(folder, WeightsFile);
        TorchFile.Write(path, state);

        var p = w.Provenance;
        string submodule = p.Site switch
        {
            "res" => $"resid_post_layer_{p.Layer}",
            "mlp" => $"mlp_out_layer_{p.Layer}",
            "att" => $"attn_z_layer_{p.Layer}",
            "attn_out" => $"attn_out_layer_{p.Layer}",
            _ => "unknown",
        };
        var trainer = new JsonObject
        {
            ["trainer_class"] = w.Architecture switch
            {
                SaeArchitecture.Relu => "StandardTrainerAprilUpdate",
                SaeArchitecture.TopK => "TopKTrainer",
                SaeArchitecture.BatchTopK => "BatchTopKTrainer",
                _ => "JumpReluTrainer",
            },
            ["dict_class"] = dictClass,
            ["activation_dim"] = w.DIn,
            ["dict_size"] = w.DSae,
        };
        if (w.Architecture is SaeArchitecture.TopK or SaeArchitecture.BatchTopK) trainer["k"] = w.K;
        trainer["device"] = "cpu";
        trainer["layer"] = p.Layer;
        trainer["lm_name"] = p.ModelName;
        trainer["submodule_name"] = submodule;
        var config = new JsonObject { ["trainer"] = trainer };
        if (p.ContextSize is int ctx) config["buffer"] = new JsonObject { ["d_submodule"] = w.DIn, ["io"] = "out", ["ctx_len"] = ctx };
        File.WriteAllText(Path.Combine(folder, ConfigFile), config.ToJsonString(Indented));
        return path;
    }
}
