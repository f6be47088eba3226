using System.Numerics.Tensors;
using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// SAELens folders (../shared/reference/sae-formats.md §2): <c>cfg.json</c> in the v6 layout (<c>metadata</c>,
/// <c>architecture</c>) or the legacy v3–v5 flat spellings, <c>sae_weights.safetensors</c> and the optional
/// <c>sparsity.safetensors</c>. Architectures standard, topk (decoder-norm rescaling folded in on read) and
/// jumprelu; BatchTopK is written as jumprelu with its shared threshold, as SAELens saves it for inference.
/// </summary>
public static class SaeLensFormat
{
    public const string CfgFile = "cfg.json", WeightsFile = "sae_weights.safetensors", SparsityFile = "sparsity.safetensors";
    /// <summary>The SAELens release whose v6 layout we write; SAELens reads a cfg as v6 only when it names a version ≥ 6.</summary>
    public const string Version = "6.18.0";

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Whether <paramref name="folder"/> looks like a SAELens SAE.</summary>
    public static bool Matches(string folder) => File.Exists(Path.Combine(folder, CfgFile)) && File.Exists(Path.Combine(folder, WeightsFile));

    public static (SaeWeights Weights, string Detail) Read(string folder)
    {
        string cfgPath = Path.Combine(folder, CfgFile);
        var cfg = JsonFields.Open(cfgPath);
        bool v6 = IsV6(cfg);
        if (!v6) cfg = Legacy(cfg);

        int dIn = cfg.RequiredInt("d_in"), dSae = cfg.RequiredInt("d_sae");
        if (dIn < 1 || dSae < 1) throw new DataException(cfgPath, $"d_in = {dIn} and d_sae = {dSae} must both be ≥ 1");
        string arch = cfg.String("architecture") ?? "standard";
        var (architecture, k) = arch switch
        {
            "standard" => (SaeArchitecture.Relu, 0),
            "jumprelu" => (SaeArchitecture.JumpRelu, 0),
            "topk" => (SaeArchitecture.TopK, cfg.Int("k") ?? 100), // TopKSAEConfig's default k
            "gated" => throw new DataException(cfgPath, "architecture: gated SAEs are not supported (standard, topk and jumprelu are)"),
            "batchtopk" or "matryoshka_batchtopk" => throw new DataException(cfgPath,
                $"architecture: '{arch}' is a SAELens training checkpoint; load the inference SAE it saves (architecture jumprelu)"),
            _ => throw new DataException(cfgPath, $"architecture: unknown '{arch}' (expected standard, topk or jumprelu)"),
        };
        if (architecture == SaeArchitecture.TopK && (k < 1 || k > dSae)) throw new DataException(cfgPath, $"k = {k} must be in 1..d_sae ({dSae})");
        var dtype = ParseDtype(cfg.String("dtype"), cfgPath);
        var normalization = ActivationNormalizationNames.Parse(cfg.BoolOrString("normalize_activations"), cfgPath, "normalize_activations");
        string reshape = cfg.String("reshape_activations") ?? "none";
        if (reshape is not ("none" or "hook_z")) throw new DataException(cfgPath, $"reshape_activations: unknown '{reshape}' (expected none or hook_z)");

        string weightsPath = Path.Combine(folder, WeightsFile);
        using var f = SafetensorsFile.Open(weightsPath);
        string from = $"{CfgFile} d_in = {dIn}, d_sae = {dSae}";
        // the loader casts every tensor to cfg dtype
        float[] T(string name, params long[] shape) => TensorReads.RoundTo(TensorReads.Float(f, name, shape, from), dtype);
        float[] wEnc = T("W_enc", dIn, dSae), bEnc = T("b_enc", dSae), wDec = T("W_dec", dSae, dIn), bDec = T("b_dec", dIn);
        float[]? threshold = architecture == SaeArchitecture.JumpRelu ? T("threshold", dSae) : null;
        var scaling = ScalingFactor(cfg, f, dSae, from);
        if (scaling != null)
            for (int j = 0; j < dSae; j++) TensorPrimitives.Multiply(wDec.AsSpan(j * dIn, dIn), scaling[j], wDec.AsSpan(j * dIn, dIn)); // (f·s)·W_dec = f·(diag(s)·W_dec)

        var w = new SaeWeights(architecture, dIn, dSae, k, wEnc, bEnc, wDec, bDec, threshold)
        {
            ApplyBDecToInput = cfg.Bool("apply_b_dec_to_input") ?? true,
            Normalization = normalization,
            HookZ = reshape == "hook_z",
            StoredDtype = dtype,
            Provenance = ReadProvenance(v6 ? cfg.Object("metadata") ?? cfg : cfg),
            LogSparsity = ReadSparsity(folder, dSae),
        };
        string detail = $"cfg.json {(v6 ? "v6" : "legacy (v3–v5)")}";
        if (architecture == SaeArchitecture.TopK && cfg.Bool("rescale_acts_by_decoder_norm") == true)
        {
            w = w.WithUnitDecoderRows(w.DecoderRowNorms()); // top-k of pre·‖W_dec,j‖, decoded through W_dec/‖W_dec,j‖: the same codes and recon
            detail += "; rescale_acts_by_decoder_norm folded into the weights";
        }
        if (scaling != null) detail += "; finetuning_scaling_factor folded into W_dec";
        return (w.Validate(weightsPath), detail);
    }

    static bool IsV6(JsonFields cfg)
    {
        string? version = cfg.String("sae_lens_version") ?? cfg.Object("metadata")?.String("sae_lens_version");
        if (version == null) return false;
        string major = version.Split('.', '-')[0];
        return int.TryParse(major, out int m) && m >= 6;
    }

    /// <summary>A v3–v5 cfg with the renames and defaults SAELens 6 applies to it (its <c>handle_pre_6_0_config</c>).</summary>
    static JsonFields Legacy(JsonFields cfg)
    {
        var o = (JsonObject)cfg.Json.DeepClone();
        void Rename(string from, string to)
        {
            if (o.ContainsKey(from) && !o.ContainsKey(to)) { var v = o[from]; o.Remove(from); o[to] = v; }
        }
        Rename("hook_point", "hook_name");
        Rename("hook_point_layer", "hook_layer");
        Rename("hook_point_head_index", "hook_head_index");
        Rename("activation_fn_str", "activation_fn");
        var c = JsonFields.Of(cfg.File, o);
        string activation = c.String("activation_fn") ?? "relu";
        string arch = c.String("architecture") ?? "standard";
        int? k = c.Object("activation_fn_kwargs")?.Int("k");
        if (activation == "topk")
        {
            if (k == null && arch != "topk") throw new DataException(cfg.File, "activation_fn_kwargs.k: missing (a topk activation needs k)");
            arch = "topk";
            if (k != null) o["k"] = k;
        }
        else if (activation != "relu" && arch == "standard")
            throw new DataException(cfg.File, $"activation_fn: '{activation}' is not supported (relu or topk)");
        o["architecture"] = arch;
        string? hook = c.String("hook_name");
        if (!o.ContainsKey("reshape_activations")) o["reshape_activations"] = hook != null && hook.Contains("hook_z") ? "hook_z" : "none";
        return JsonFields.Of(cfg.File, o);
    }

    static float[]? ScalingFactor(JsonFields cfg, SafetensorsFile f, int dSae, string from)
    {
        string? name = f.TryGet("finetuning_scaling_factor", out _) ? "finetuning_scaling_factor" : f.TryGet("scaling_factor", out _) ? "scaling_factor" : null;
        if (name == null)
        {
            if (cfg.Bool("finetuning_scaling_factor") == true)
                throw new DataException(f.Path, $"{CfgFile} sets finetuning_scaling_factor but the file has no finetuning_scaling_factor tensor");
            return null;
        }
        var s = TensorReads.Float(f, name, [dSae], from);
        return s.All(v => v == 1f) ? null : s; // an all-ones factor is dropped
    }

    internal static SafetensorsDtype ParseDtype(string? dtype, string file) => (dtype ?? "float32").Replace("torch.", "") switch
    {
        "float32" => SafetensorsDtype.F32,
        "float64" => SafetensorsDtype.F64,
        "float16" => SafetensorsDtype.F16,
        "bfloat16" => SafetensorsDtype.BF16,
        _ => throw new DataException(file, $"dtype: unknown '{dtype}' (expected float32, float64, float16 or bfloat16)"),
    };

    static string DtypeName(SafetensorsDtype d) => d switch
    {
        SafetensorsDtype.F16 => "float16",
        SafetensorsDtype.BF16 => "bfloat16",
        SafetensorsDtype.F64 => "float64",
        _ => "float32",
    };

    static SaeProvenance ReadProvenance(JsonFields m) => new(
        ModelName: m.String("model_name"),
        HookName: m.String("hook_name"),
        ContextSize: m.Int("context_size"),
        DatasetPath: m.String("dataset_path"),
        PrependBos: m.Bool("prepend_bos") ?? true,
        HookHeadIndex: m.Int("hook_head_index"));

    /// <summary>The log10 firing fractions of <c>sparsity.safetensors</c> in <paramref name="folder"/>, or null when there is none.</summary>
    public static float[]? ReadSparsity(string folder, int dSae)
    {
        string path = Path.Combine(folder, SparsityFile);
        if (!File.Exists(path)) return null;
        using var f = SafetensorsFile.Open(path);
        return TensorReads.Float(f, "sparsity", [dSae], $"d_sae = {dSae}");
    }

    /// <summary>
    /// Writes <c>cfg.json</c> (v6), <c>sae_weights.safetensors</c> and, where known, <c>sparsity.safetensors</c>
    /// into <paramref name="folder"/> (which exists). <paramref name="extra"/> adds top-level keys (SAELens drops unknown ones).
    /// </summary>
    public static void Write(SaeWeights w, string folder, JsonObject? extra = null)
    {
        var sf = new SafetensorsWriter(); // no __metadata__, as save_file writes
        var store = w.StoredDtype is SafetensorsDtype.F16 or SafetensorsDtype.BF16 ? w.StoredDtype : SafetensorsDtype.F32;
        sf.AddBorrowed("W_enc", w.WEnc, [w.DIn, w.DSae], store);
        sf.AddBorrowed("W_dec", w.WDec, [w.DSae, w.DIn], store);
        sf.AddBorrowed("b_enc", w.BEnc, [w.DSae], store);
        sf.AddBorrowed("b_dec", w.BDec, [w.DIn], store);
        if (w.Threshold != null) sf.AddBorrowed("threshold", w.Threshold, [w.DSae], store);
        sf.Write(Path.Combine(folder, WeightsFile));
        if (w.LogSparsity != null)
        {
            var sp = new SafetensorsWriter();
            sp.AddBorrowed("sparsity", w.LogSparsity, [w.DSae]);
            sp.Write(Path.Combine(folder, SparsityFile));
        }
        var p = w.Provenance;
        var cfg = new JsonObject
        {
            ["d_in"] = w.DIn,
            ["d_sae"] = w.DSae,
            ["dtype"] = DtypeName(store),
            ["device"] = "cpu",
            ["apply_b_dec_to_input"] = w.ApplyBDecToInput,
            ["normalize_activations"] = w.Normalization.ToName(),
            ["reshape_activations"] = w.HookZ ? "hook_z" : "none",
        };
        if (w.Architecture == SaeArchitecture.TopK)
        {
            cfg["k"] = w.K;
            cfg["rescale_acts_by_decoder_norm"] = false; // our codes are top-k of pre itself
        }
        cfg["metadata"] = new JsonObject
        {
            ["sae_lens_version"] = Version,
            ["sae_lens_training_version"] = Version,
            ["model_name"] = p.ModelName,
            ["hook_name"] = p.HookName,
            ["hook_head_index"] = p.HookHeadIndex,
            ["hf_hook_name"] = p.HfModule,
            ["context_size"] = p.ContextSize,
            ["prepend_bos"] = p.PrependBos,
            ["seqpos_slice"] = new JsonArray((JsonNode?)null),
            ["model_from_pretrained_kwargs"] = new JsonObject(),
            ["dataset_path"] = p.DatasetPath,
            ["model_class_name"] = "HookedTransformer",
            ["exclude_special_tokens"] = true, // BOS/EOS/pad positions are left out of training data
            ["sequence_separator_token"] = "bos",
            ["disable_concat_sequences"] = false,
        };
        cfg["architecture"] = w.Architecture switch
        {
            SaeArchitecture.Relu => "standard",
            SaeArchitecture.TopK => "topk",
            _ => "jumprelu",
        };
        if (extra != null) foreach (var (key, value) in extra) cfg[key] = value?.DeepClone();
        File.WriteAllText(Path.Combine(folder, CfgFile), cfg.ToJsonString(Indented));
    }
}
