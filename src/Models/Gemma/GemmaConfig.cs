using System.Text.Json;
using System.Text.Json.Nodes;

namespace SaeCluster.Models;

/// <summary>
/// A Gemma text model's shape and attention settings, read from a Hugging Face config.json
/// (model_type gemma, gemma2, gemma3_text, or gemma3 with its text_config). Facts and defaults:
/// ../shared/reference/gemma.md §1.
/// </summary>
public sealed record GemmaConfig
{
    public required GemmaVersion Version { get; init; }
    public required int VocabSize { get; init; }
    public required int Hidden { get; init; }          // d
    public required int Intermediate { get; init; }    // I
    public required int Layers { get; init; }
    public required int Heads { get; init; }           // Hq
    public required int KvHeads { get; init; }         // Hkv
    public required int HeadDim { get; init; }         // D
    public float RmsNormEps { get; init; } = 1e-6f;
    /// <summary>RoPE base for global layers (and all layers before Gemma 3).</summary>
    public float RopeTheta { get; init; } = 10_000f;
    /// <summary>Gemma 3: RoPE base for sliding-window (local) layers.</summary>
    public float RopeLocalTheta { get; init; } = 10_000f;
    /// <summary>Linear RoPE scaling factor on global layers (Gemma 3 4B+: 8).</summary>
    public float RopeScaling { get; init; } = 1f;
    public float RopeLocalScaling { get; init; } = 1f;
    /// <summary>Scores scale = QueryPreAttnScalar^-1/2 (Gemma 1: head_dim).</summary>
    public float QueryPreAttnScalar { get; init; }
    public int? SlidingWindow { get; init; }
    public float? AttnSoftcap { get; init; }
    public float? FinalSoftcap { get; init; }
    /// <summary>Per layer: true where attention is sliding-window (local).</summary>
    public required bool[] Sliding { get; init; }
    public int BosId { get; init; } = 2;
    public int EosId { get; init; } = 1;
    public int PadId { get; init; }
    /// <summary>Tensor-name prefix of the text model ("model." or "language_model.model." for multimodal Gemma 3).</summary>
    public string WeightPrefix { get; init; } = "model.";
    public string ModelType { get; init; } = "";

    public int QDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;

    public static GemmaConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "no such file");
        JsonObject root;
        try { root = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new ModelFormatException(path, "is empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new ModelFormatException(path, $"is not valid JSON ({e.Message})"); }
        return Parse(root, path);
    }

    public static GemmaConfig Parse(JsonObject root, string path)
    {
        string type = Str(root, "model_type", path) ?? throw new ModelFormatException(path, "model_type is missing");
        string prefix = "model.";
        var c = root;
        if (type == "gemma3")
        {
            // multimodal: the language model's settings live in text_config, its weights under language_model.
            c = root["text_config"] as JsonObject ?? throw new ModelFormatException(path, "model_type gemma3 needs text_config");
            prefix = "language_model.model.";
        }
        var version = type switch
        {
            "gemma" => GemmaVersion.Gemma1,
            "gemma2" => GemmaVersion.Gemma2,
            "gemma3_text" or "gemma3" => GemmaVersion.Gemma3,
            _ => throw new ModelFormatException(path, $"model_type '{type}' is not a Gemma text model (gemma, gemma2, gemma3_text, gemma3)"),
        };
        // Gemma 3 text_config of multimodal files may omit fields that have Gemma 3 defaults
        bool g3 = version == GemmaVersion.Gemma3;
        int hidden = Int(c, "hidden_size", path) ?? (g3 ? 2304 : throw Missing(path, "hidden_size"));
        int heads = Int(c, "num_attention_heads", path) ?? (g3 ? 8 : throw Missing(path, "num_attention_heads"));
        int headDim = Int(c, "head_dim", path) ?? (g3 ? 256 : hidden / heads);
        int layers = Int(c, "num_hidden_layers", path) ?? (g3 ? 26 : throw Missing(path, "num_hidden_layers"));
        int? window = Int(c, "sliding_window", path);
        if (version == GemmaVersion.Gemma2) window ??= 4096;
        if (g3) window ??= 4096;
        var sliding = new bool[layers];
        if (c["layer_types"] is JsonArray types)
        {
            if (types.Count != layers) throw new ModelFormatException(path, $"layer_types has {types.Count} entries for {layers} layers");
            for (int i = 0; i < layers; i++)
                sliding[i] = (string?)types[i] switch
                {
                    "sliding_attention" => true,
                    "full_attention" => false,
                    var t => throw new ModelFormatException(path, $"layer_types[{i}] = '{t}' (expected sliding_attention or full_attention)"),
                };
        }
        else if (version == GemmaVersion.Gemma2)
            for (int i = 0; i < layers; i++) sliding[i] = i % 2 == 0;
        else if (g3)
        {
            int pattern = Int(c, "sliding_window_pattern", path) ?? 6;
            for (int i = 0; i < layers; i++) sliding[i] = (i + 1) % pattern != 0;
        }
        if (version == GemmaVersion.Gemma1) window = null;

        // RoPE: rope_theta / rope_local_base_freq / rope_scaling, or transformers v5 rope_parameters per layer type
        float theta = Float(c, "rope_theta", path) ?? (g3 ? 1_000_000f : 10_000f);
        float localTheta = Float(c, "rope_local_base_freq", path) ?? (g3 ? 10_000f : theta);
        float scaling = 1f, localScaling = 1f;
        if (c["rope_scaling"] is JsonObject rs) scaling = LinearFactor(rs, path, "rope_scaling");
        if (c["rope_parameters"] is JsonObject rp)
        {
            if (rp["full_attention"] is JsonObject full)
            {
                theta = Float(full, "rope_theta", path) ?? theta;
                scaling = LinearFactor(full, path, "rope_parameters.full_attention");
            }
            if (rp["sliding_attention"] is JsonObject local)
            {
                localTheta = Float(local, "rope_theta", path) ?? localTheta;
                localScaling = LinearFactor(local, path, "rope_parameters.sliding_attention");
            }
            if (rp["rope_theta"] != null) { theta = Float(rp, "rope_theta", path)!.Value; if (!g3) localTheta = theta; }
        }
        if (!g3) localTheta = theta;

        var cfg = new GemmaConfig
        {
            Version = version,
            ModelType = type,
            VocabSize = Int(c, "vocab_size", path) ?? (g3 ? 262_208 : 256_000),
            Hidden = hidden,
            Intermediate = Int(c, "intermediate_size", path) ?? (g3 ? 9216 : throw Missing(path, "intermediate_size")),
            Layers = layers,
            Heads = heads,
            KvHeads = Int(c, "num_key_value_heads", path) ?? (g3 ? 4 : heads),
            HeadDim = headDim,
            RmsNormEps = Float(c, "rms_norm_eps", path) ?? 1e-6f,
            RopeTheta = theta,
            RopeLocalTheta = localTheta,
            RopeScaling = scaling,
            RopeLocalScaling = localScaling,
            QueryPreAttnScalar = version == GemmaVersion.Gemma1 ? headDim : Float(c, "query_pre_attn_scalar", path) ?? headDim,
            SlidingWindow = window,
            AttnSoftcap = version == GemmaVersion.Gemma1 ? null : Float(c, "attn_logit_softcapping", path) ?? (version == GemmaVersion.Gemma2 ? 50f : null),
            FinalSoftcap = version == GemmaVersion.Gemma1 ? null : Float(c, "final_logit_softcapping", path) ?? (version == GemmaVersion.Gemma2 ? 30f : null),
            Sliding = sliding,
            BosId = Int(root, "bos_token_id", path) ?? Int(c, "bos_token_id", path) ?? 2,
            EosId = Int(root, "eos_token_id", path) ?? Int(c, "eos_token_id", path) ?? 1,
            PadId = Int(root, "pad_token_id", path) ?? Int(c, "pad_token_id", path) ?? 0,
            WeightPrefix = prefix,
        };
        cfg.Validate(path);
        return cfg;
    }

    void Validate(string path)
    {
        void Positive(string field, int v) { if (v <= 0) throw new ModelFormatException(path, $"{field} must be > 0 (got {v})"); }
        Positive("vocab_size", VocabSize); Positive("hidden_size", Hidden); Positive("intermediate_size", Intermediate);
        Positive("num_hidden_layers", Layers); Positive("num_attention_heads", Heads); Positive("num_key_value_heads", KvHeads);
        Positive("head_dim", HeadDim);
        if (Heads % KvHeads != 0) throw new ModelFormatException(path, $"num_attention_heads {Heads} is not a multiple of num_key_value_heads {KvHeads}");
        if (HeadDim % 2 != 0) throw new ModelFormatException(path, $"head_dim {HeadDim} must be even (RoPE rotates halves)");
        if (SlidingWindow is <= 0) throw new ModelFormatException(path, $"sliding_window must be > 0 (got {SlidingWindow})");
    }

    /// <summary>Writes the config in the Hugging Face layout (used for generated checkpoints).</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Version switch { GemmaVersion.Gemma1 => "GemmaForCausalLM", GemmaVersion.Gemma2 => "Gemma2ForCausalLM", _ => "Gemma3ForCausalLM" }),
            ["model_type"] = Version switch { GemmaVersion.Gemma1 => "gemma", GemmaVersion.Gemma2 => "gemma2", _ => "gemma3_text" },
            ["vocab_size"] = VocabSize, ["hidden_size"] = Hidden, ["intermediate_size"] = Intermediate,
            ["num_hidden_layers"] = Layers, ["num_attention_heads"] = Heads, ["num_key_value_heads"] = KvHeads,
            ["head_dim"] = HeadDim, ["hidden_activation"] = "gelu_pytorch_tanh", ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta, ["max_position_embeddings"] = 8192,
            ["bos_token_id"] = BosId, ["eos_token_id"] = EosId, ["pad_token_id"] = PadId,
            ["tie_word_embeddings"] = true, ["torch_dtype"] = "float32",
        };
        if (Version != GemmaVersion.Gemma1)
        {
            o["query_pre_attn_scalar"] = QueryPreAttnScalar;
            o["sliding_window"] = SlidingWindow;
            o["attn_logit_softcapping"] = AttnSoftcap;
            o["final_logit_softcapping"] = FinalSoftcap;
            o["layer_types"] = new JsonArray(Sliding.Select(s => (JsonNode?)JsonValue.Create(s ? "sliding_attention" : "full_attention")).ToArray());
        }
        if (Version == GemmaVersion.Gemma3)
        {
            o["rope_local_base_freq"] = RopeLocalTheta;
            if (RopeScaling != 1f) o["rope_scaling"] = new JsonObject { ["rope_type"] = "linear", ["factor"] = RopeScaling };
        }
        return o;
    }

    static ModelFormatException Missing(string path, string field) => new(path, $"{field} is missing");

    static float LinearFactor(JsonObject o, string path, string field)
    {
        string? kind = (string?)(o["rope_type"] ?? o["type"]);
        if (kind is null or "default") return 1f;
        if (kind != "linear") throw new ModelFormatException(path, $"{field}.rope_type '{kind}' is not supported (linear or default)");
        return Float(o, "factor", path) ?? throw new ModelFormatException(path, $"{field}.factor is missing");
    }

    static string? Str(JsonObject o, string key, string path) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => throw new ModelFormatException(path, $"{key} must be a string"),
    };

    static int? Int(JsonObject o, string key, string path) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out int i) => i,
        JsonValue v when v.TryGetValue(out double d) && d == Math.Floor(d) => (int)d,
        JsonArray a when a.Count > 0 && a[0] is JsonValue first && first.TryGetValue(out int i0) => i0, // eos_token_id may be a list
        _ => throw new ModelFormatException(path, $"{key} must be an integer"),
    };

    static float? Float(JsonObject o, string key, string path) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out double d) => (float)d,
        _ => throw new ModelFormatException(path, $"{key} must be a number"),
    };
}
