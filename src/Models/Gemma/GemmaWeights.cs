using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Models;

/// <summary>
/// All weights of a Gemma text model in float32, read from a Hugging Face checkpoint folder: one
/// model.safetensors or shards listed in model.safetensors.index.json; F32, F16 or BF16 tensors.
/// Missing tensors and wrong shapes are errors naming the tensor and file.
/// </summary>
public sealed class GemmaWeights
{
    public required GemmaConfig Config { get; init; }
    public required float[] Embedding { get; init; }   // [V, d], also the (tied) output head
    public required float[] FinalNorm { get; init; }   // [d]
    public required GemmaLayerWeights[] Layers { get; init; }

    /// <summary>Loads layers 0..<paramref name="layerCount"/>-1 (all by default: the head needs every layer).</summary>
    public static GemmaWeights Load(string folder, GemmaConfig config, int? layerCount = null)
    {
        var source = TensorSource.Open(folder);
        try
        {
            var c = config;
            int d = c.Hidden, layers = layerCount ?? c.Layers;
            string p = c.WeightPrefix;
            var result = new GemmaLayerWeights[layers];
            for (int i = 0; i < layers; i++)
            {
                string l = $"{p}layers.{i}.";
                bool g2 = c.Version != GemmaVersion.Gemma1, g3 = c.Version == GemmaVersion.Gemma3;
                result[i] = new GemmaLayerWeights
                {
                    Q = source.Read(l + "self_attn.q_proj.weight", c.QDim, d),
                    K = source.Read(l + "self_attn.k_proj.weight", c.KvDim, d),
                    V = source.Read(l + "self_attn.v_proj.weight", c.KvDim, d),
                    O = source.Read(l + "self_attn.o_proj.weight", d, c.QDim),
                    Gate = source.Read(l + "mlp.gate_proj.weight", c.Intermediate, d),
                    Up = source.Read(l + "mlp.up_proj.weight", c.Intermediate, d),
                    Down = source.Read(l + "mlp.down_proj.weight", d, c.Intermediate),
                    InputNorm = source.Read(l + "input_layernorm.weight", d),
                    PostAttentionNorm = source.Read(l + "post_attention_layernorm.weight", d),
                    PreFeedforwardNorm = g2 ? source.Read(l + "pre_feedforward_layernorm.weight", d) : null,
                    PostFeedforwardNorm = g2 ? source.Read(l + "post_feedforward_layernorm.weight", d) : null,
                    QNorm = g3 ? source.Read(l + "self_attn.q_norm.weight", c.HeadDim) : null,
                    KNorm = g3 ? source.Read(l + "self_attn.k_norm.weight", c.HeadDim) : null,
                };
            }
            return new GemmaWeights
            {
                Config = c,
                Embedding = source.Read(p + "embed_tokens.weight", c.VocabSize, d),
                FinalNorm = source.Read(p + "norm.weight", d),
                Layers = result,
            };
        }
        finally { source.Dispose(); }
    }

    /// <summary>Name → file for a single or sharded checkpoint; reads tensors as float32.</summary>
    sealed class TensorSource : IDisposable
    {
        readonly Dictionary<string, string> _fileOf = new();
        readonly Dictionary<string, SafetensorsFile> _open = new();
        readonly string _folder;

        TensorSource(string folder) => _folder = folder;

        public static TensorSource Open(string folder)
        {
            var s = new TensorSource(folder);
            string index = Path.Combine(folder, "model.safetensors.index.json");
            string single = Path.Combine(folder, "model.safetensors");
            if (File.Exists(index))
            {
                JsonObject map;
                try { map = JsonNode.Parse(File.ReadAllText(index))?["weight_map"]?.AsObject() ?? throw new ModelFormatException(index, "has no weight_map"); }
                catch (JsonException e) { throw new ModelFormatException(index, $"is not valid JSON ({e.Message})"); }
                foreach (var (name, file) in map) s._fileOf[name] = Path.Combine(folder, (string?)file ?? throw new ModelFormatException(index, $"weight_map['{name}'] is not a file name"));
            }
            else if (File.Exists(single))
            {
                var f = s.OpenFile(single);
                foreach (var t in f.Tensors) s._fileOf[t.Name] = single;
            }
            else throw new ModelFormatException(folder, "holds neither model.safetensors nor model.safetensors.index.json");
            return s;
        }

        SafetensorsFile OpenFile(string path)
        {
            if (_open.TryGetValue(path, out var f)) return f;
            if (!File.Exists(path)) throw new ModelFormatException(path, "is listed in model.safetensors.index.json but missing");
            try { f = SafetensorsFile.Open(path); }
            catch (SafetensorsFormatException e) { throw new ModelFormatException(path, e.Problem); }
            _open[path] = f;
            return f;
        }

        public float[] Read(string name, params long[] shape)
        {
            if (!_fileOf.TryGetValue(name, out var path)) throw new ModelFormatException(_folder, $"tensor '{name}' is missing from the checkpoint");
            var f = OpenFile(path);
            if (!f.TryGet(name, out var info)) throw new ModelFormatException(path, $"tensor '{name}' is missing");
            if (!info.Shape.SequenceEqual(shape))
                throw new ModelFormatException(path, $"tensor '{name}' has shape [{string.Join(", ", info.Shape)}], config.json implies [{string.Join(", ", shape)}]");
            if (info.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
                throw new ModelFormatException(path, $"tensor '{name}' has dtype {info.Dtype}; expected F32, F16 or BF16");
            return f.ReadAllAsFloat(name);
        }

        public void Dispose()
        {
            foreach (var f in _open.Values) f.Dispose();
        }
    }
}
