using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Models;

/// <summary>
/// Writes a small random Gemma checkpoint in the real Hugging Face layout (config.json, model.safetensors
/// or shards + model.safetensors.index.json, a byte-level Gemma-style tokenizer.json, tokenizer_config.json),
/// with every architectural feature of its version switched on: GQA, Hq·D ≠ d, sliding windows,
/// softcaps (Gemma 2), q/k norms and local/global RoPE with linear scaling (Gemma 3).
/// </summary>
public static class RandomCheckpoint
{
    /// <summary>Specials, 256 byte tokens, "▁", "\n", "\t" and printable ASCII: 358 tokens.</summary>
    public const int ByteTokenizerSize = 4 + 256 + 3 + 94;

    public static GemmaConfig TinyConfig(GemmaVersion version, int hidden = 64, int layers = 4, int heads = 4, int kvHeads = 2,
        int headDim = 24, int intermediate = 128, int vocab = 384, int window = 8)
    {
        if (vocab < ByteTokenizerSize) throw new ArgumentOutOfRangeException(nameof(vocab), $"the byte-level tokenizer needs a vocabulary of at least {ByteTokenizerSize}");
        bool g3 = version == GemmaVersion.Gemma3;
        return new GemmaConfig
        {
            Version = version, ModelType = version switch { GemmaVersion.Gemma1 => "gemma", GemmaVersion.Gemma2 => "gemma2", _ => "gemma3_text" },
            VocabSize = vocab, Hidden = hidden, Intermediate = intermediate, Layers = layers, Heads = heads, KvHeads = kvHeads,
            HeadDim = headDim,
            RopeTheta = g3 ? 1_000_000f : 10_000f, RopeLocalTheta = 10_000f, RopeScaling = g3 ? 2f : 1f,
            QueryPreAttnScalar = version == GemmaVersion.Gemma1 ? headDim : headDim + 8,
            SlidingWindow = version == GemmaVersion.Gemma1 ? null : window,
            AttnSoftcap = version == GemmaVersion.Gemma2 ? 50f : null,
            FinalSoftcap = version == GemmaVersion.Gemma2 ? 30f : null,
            // Gemma 2: even layers local; Gemma 3: every second layer global here (the release uses every sixth)
            Sliding = Enumerable.Range(0, layers).Select(i => version switch
            {
                GemmaVersion.Gemma1 => false,
                GemmaVersion.Gemma2 => i % 2 == 0,
                _ => (i + 1) % 2 != 0,
            }).ToArray(),
        };
    }

    public static void Write(string folder, GemmaConfig c, ulong seed, SafetensorsDtype dtype = SafetensorsDtype.F32, int shards = 1)
    {
        if (shards < 1 || shards > c.Layers + 1) throw new ArgumentOutOfRangeException(nameof(shards), $"1 to {c.Layers + 1} shards");
        Directory.CreateDirectory(folder);
        var rng = new Rng(seed);
        var tensors = new List<(string Name, float[] Data, long[] Shape, int Shard)>();
        void Add(string name, int shard, float std, float mean, params long[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var data = new float[n];
            for (long i = 0; i < n; i++) data[i] = mean + std * rng.NextGaussian();
            tensors.Add((name, data, shape, shard));
        }
        int d = c.Hidden;
        Add("model.embed_tokens.weight", 0, 1f / MathF.Sqrt(d), 0, c.VocabSize, d);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            int shard = (int)((long)(l + 1) * shards / (c.Layers + 1));
            Add(p + "self_attn.q_proj.weight", shard, 1f / MathF.Sqrt(d), 0, c.QDim, d);
            Add(p + "self_attn.k_proj.weight", shard, 1f / MathF.Sqrt(d), 0, c.KvDim, d);
            Add(p + "self_attn.v_proj.weight", shard, 1f / MathF.Sqrt(d), 0, c.KvDim, d);
            Add(p + "self_attn.o_proj.weight", shard, 1f / MathF.Sqrt(c.QDim), 0, d, c.QDim);
            Add(p + "mlp.gate_proj.weight", shard, 1f / MathF.Sqrt(d), 0, c.Intermediate, d);
            Add(p + "mlp.up_proj.weight", shard, 1f / MathF.Sqrt(d), 0, c.Intermediate, d);
            Add(p + "mlp.down_proj.weight", shard, 1f / MathF.Sqrt(c.Intermediate), 0, d, c.Intermediate);
            // norm weights w enter as (1 + w): small random values make every norm matter
            Add(p + "input_layernorm.weight", shard, 0.1f, 0, d);
            Add(p + "post_attention_layernorm.weight", shard, 0.1f, 0, d);
            if (c.Version != GemmaVersion.Gemma1)
            {
                Add(p + "pre_feedforward_layernorm.weight", shard, 0.1f, 0, d);
                Add(p + "post_feedforward_layernorm.weight", shard, 0.1f, 0, d);
            }
            if (c.Version == GemmaVersion.Gemma3)
            {
                Add(p + "self_attn.q_norm.weight", shard, 0.1f, 0, c.HeadDim);
                Add(p + "self_attn.k_norm.weight", shard, 0.1f, 0, c.HeadDim);
            }
        }
        Add("model.norm.weight", shards - 1, 0.1f, 0, d);

        var indexed = new JsonObject();
        for (int s = 0; s < shards; s++)
        {
            string file = shards == 1 ? "model.safetensors" : $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
            var w = new SafetensorsWriter();
            w.Metadata["format"] = "pt";
            foreach (var t in tensors.Where(t => t.Shard == s))
            {
                w.AddBorrowed(t.Name, t.Data, t.Shape, dtype);
                indexed[t.Name] = file;
            }
            w.Write(Path.Combine(folder, file));
        }
        var indent = new JsonSerializerOptions { WriteIndented = true };
        if (shards > 1)
            File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"),
                new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => t.Data.LongLength * dtype.ElementSize()) }, ["weight_map"] = indexed }.ToJsonString(indent));
        var config = c.ToJson();
        config["torch_dtype"] = dtype switch { SafetensorsDtype.BF16 => "bfloat16", SafetensorsDtype.F16 => "float16", _ => "float32" };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(indent));
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), ByteTokenizerJson(c.VocabSize).ToJsonString(indent));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject
        {
            ["add_bos_token"] = true, ["add_eos_token"] = false, ["bos_token"] = "<bos>", ["eos_token"] = "<eos>",
            ["pad_token"] = "<pad>", ["unk_token"] = "<unk>", ["tokenizer_class"] = "GemmaTokenizer",
        }.ToJsonString(indent));
    }

    /// <summary>A Gemma-style tokenizer.json without merges: one token per byte or printable character.</summary>
    public static JsonObject ByteTokenizerJson(int vocabSize)
    {
        var vocab = new JsonObject();
        string[] specials = ["<pad>", "<eos>", "<bos>", "<unk>"];
        int id = 0;
        foreach (var s in specials) vocab[s] = id++;
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = id++;
        foreach (var s in new[] { "▁", "\n", "\t" }) vocab[s] = id++;
        for (char ch = '!'; ch <= '~'; ch++) vocab[ch.ToString()] = id++;
        while (id < vocabSize) vocab[$"<unused{id}>"] = id++;
        var added = new JsonArray();
        for (int i = 0; i < specials.Length; i++)
            added.Add(new JsonObject { ["id"] = i, ["content"] = specials[i], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true });
        JsonObject Special(string name, int typeId) => new() { ["SpecialToken"] = new JsonObject { ["id"] = name, ["type_id"] = typeId } };
        JsonObject Seq(string name, int typeId) => new() { ["Sequence"] = new JsonObject { ["id"] = name, ["type_id"] = typeId } };
        return new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null, ["added_tokens"] = added,
            ["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["String"] = " " }, ["behavior"] = "MergedWithPrevious", ["invert"] = false },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Special("<bos>", 0), Seq("A", 0)),
                ["pair"] = new JsonArray(Special("<bos>", 0), Seq("A", 0), Special("<bos>", 1), Seq("B", 1)),
                ["special_tokens"] = new JsonObject { ["<bos>"] = new JsonObject { ["id"] = "<bos>", ["ids"] = new JsonArray(2), ["tokens"] = new JsonArray("<bos>") } },
            },
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" }, new JsonObject { ["type"] = "Fuse" }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = true, ["byte_fallback"] = true, ["ignore_merges"] = false, ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
    }
}
