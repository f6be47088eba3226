using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Models;

/// <summary>
/// A Gemma 1/2/3 text model, float32, forward only. Reads top to bottom like the reference
/// (../shared/reference/gemma.md §3): embedding × √d, then per layer
///   Gemma 1:   h += Attn(norm_in(h));                     h += MLP(norm_post_attn(h))
///   Gemma 2/3: h += norm_post_attn(Attn(norm_in(h)));     h += norm_post_ff(MLP(norm_pre_ff(h)))
/// with hook sites att (heads before o_proj), attn_out (o_proj output), mlp and res.
/// A batch is B independent rows of T tokens (packed contexts); positions restart at 0 in every row.
/// </summary>
public sealed class GemmaModel
{
    public GemmaConfig Config { get; }
    public GemmaWeights Weights { get; }
    readonly Dictionary<(float, float, int), (float[] Cos, float[] Sin)> _rope = new();

    public GemmaModel(GemmaWeights weights)
    {
        Weights = weights;
        Config = weights.Config;
    }

    /// <summary>Loads config.json and the weights of a Hugging Face checkpoint folder.</summary>
    public static GemmaModel Load(string folder, int? layers = null)
    {
        if (!Directory.Exists(folder)) throw new ModelFormatException(folder, "no such model folder");
        var config = GemmaConfig.Load(Path.Combine(folder, "config.json"));
        if (layers is int n && (n < 1 || n > config.Layers)) throw new ArgumentOutOfRangeException(nameof(layers), $"the model has {config.Layers} layers");
        return new GemmaModel(GemmaWeights.Load(folder, config, layers));
    }

    public int LoadedLayers => Weights.Layers.Length;

    /// <summary>
    /// Run the projections and the MLP as bf16 × bf16 → f32 GEMMs (AMX) — how the released bf16 checkpoints
    /// are meant to run, about 4× faster here; attention, norms and residual adds stay float32. Off by
    /// default: the float32 forward is the one checked against the reference.
    /// </summary>
    public bool Bf16Matmuls { get; set; }

    readonly System.Runtime.CompilerServices.ConditionalWeakTable<float[], ushort[]> _bf16Weights = new();

    /// <summary>
    /// Runs <paramref name="ids"/> [rows, T] (row-major). Returns logits [rows·T, V] when
    /// <paramref name="logits"/>, else null — and then stops after the deepest layer the hook wants.
    /// With <paramref name="residual"/> (the residual stream entering layer <paramref name="fromLayer"/>, [rows·T, d], as a
    /// hook saw it at the previous layer's res site) the layers before <paramref name="fromLayer"/> are not run again.
    /// </summary>
    public float[]? Forward(ReadOnlySpan<int> ids, int rows, IActivationHook? hook = null, bool logits = true, int fromLayer = 0, float[]? residual = null)
    {
        var c = Config;
        if (rows < 1 || ids.Length % rows != 0) throw new ArgumentException($"{ids.Length} ids do not split into {rows} rows");
        int T = ids.Length / rows, N = ids.Length, d = c.Hidden;
        int lastLayer = logits ? c.Layers - 1 : LastWantedLayer(hook);
        if (lastLayer >= LoadedLayers) throw new InvalidOperationException($"layer {lastLayer} is needed but only {LoadedLayers} layers are loaded");
        foreach (int id in ids) if ((uint)id >= (uint)c.VocabSize) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary (size {c.VocabSize})");

        if ((fromLayer > 0) != (residual != null) || residual != null && residual.Length != N * d)
            throw new ArgumentException($"starting at layer {fromLayer} needs the residual stream entering it, [{N}, {d}]", nameof(residual));
        // ---- embedding: h = E[ids] · √d ----------------------------------------------------- [N, d]
        var h = residual != null ? (float[])residual.Clone() : new float[N * d];
        float normalizer = MathF.Sqrt(d);
        if (residual == null)
            for (int t = 0; t < N; t++) TensorPrimitives.Multiply(Weights.Embedding.AsSpan(ids[t] * d, d), normalizer, h.AsSpan(t * d, d));

        var x = new float[N * d];
        for (int l = fromLayer; l <= lastLayer; l++) Layer(l, h, x, rows, T, hook);
        if (!logits) return null;

        // ---- head: logits = norm(h) · Eᵀ (tied), Gemma 2 final softcap ---------------------- [N, V]
        RmsNorm(h, Weights.FinalNorm, x, N, d);
        var outLogits = new float[(long)N * c.VocabSize];
        Gemm.Sgemm(false, true, N, c.VocabSize, d, 1f, x, d, Weights.Embedding, d, 0f, outLogits, c.VocabSize);
        if (c.FinalSoftcap is float cap) Softcap(outLogits, cap);
        return outLogits;
    }

    int LastWantedLayer(IActivationHook? hook)
    {
        if (hook == null) return -1;
        for (int l = Config.Layers - 1; l >= 0; l--)
            foreach (var s in Enum.GetValues<HookSite>())
                if (hook.Wants(l, s)) return l;
        return -1;
    }

    void Layer(int l, float[] h, float[] x, int rows, int T, IActivationHook? hook)
    {
        var c = Config; var w = Weights.Layers[l];
        int N = rows * T, d = c.Hidden, qd = c.QDim, kvd = c.KvDim, I = c.Intermediate;
        bool gemma1 = c.Version == GemmaVersion.Gemma1;

        // ---- attention ------------------------------------------------------------------------------
        RmsNorm(h, w.InputNorm, x, N, d);                                   // x = norm_in(h)        [N, d]
        var q = Linear(x, w.Q, N, d, qd);                                   // [N, Hq·D]
        var k = Linear(x, w.K, N, d, kvd);                                  // [N, Hkv·D]
        var v = Linear(x, w.V, N, d, kvd);                                  // [N, Hkv·D]
        if (w.QNorm != null) RmsNorm(q, w.QNorm, q, N * c.Heads, c.HeadDim); // Gemma 3: per-head q/k norms
        if (w.KNorm != null) RmsNorm(k, w.KNorm, k, N * c.KvHeads, c.HeadDim);
        bool local = c.Sliding[l];
        var (cos, sin) = RopeTable(local ? c.RopeLocalTheta : c.RopeTheta, local ? c.RopeLocalScaling : c.RopeScaling, T);
        Rope(q, cos, sin, N, T, c.Heads);
        Rope(k, cos, sin, N, T, c.KvHeads);
        var att = Attention(q, k, v, rows, T, local ? c.SlidingWindow : null); // [N, Hq·D]
        Report(hook, l, HookSite.Att, att, N, qd);
        var o = Linear(att, w.O, N, qd, d);                                 // [N, d]
        Report(hook, l, HookSite.AttnOut, o, N, d);
        if (gemma1) TensorPrimitives.Add(h, o, h);
        else
        {
            RmsNorm(o, w.PostAttentionNorm, o, N, d);
            TensorPrimitives.Add(h, o, h);
        }

        // ---- MLP: down(gelu_tanh(gate(x)) · up(x)) ------------------------------------------------
        RmsNorm(h, gemma1 ? w.PostAttentionNorm : w.PreFeedforwardNorm!, x, N, d);
        var gate = Linear(x, w.Gate, N, d, I);                              // [N, I]
        var up = Linear(x, w.Up, N, d, I);                                  // [N, I]
        GeluTanhMul(gate, up);
        var m = Linear(gate, w.Down, N, I, d);                              // [N, d]
        if (!gemma1) RmsNorm(m, w.PostFeedforwardNorm!, m, N, d);
        Report(hook, l, HookSite.Mlp, m, N, d);
        TensorPrimitives.Add(h, m, h);
        Report(hook, l, HookSite.Res, h, N, d);
    }

    static void Report(IActivationHook? hook, int layer, HookSite site, float[] values, int tokens, int width)
    {
        if (hook != null && hook.Wants(layer, site)) hook.OnActivation(layer, site, values.AsSpan(0, tokens * width), tokens, width);
    }

    // y [N, out] = x [N, in] · Wᵀ, W [out, in]
    float[] Linear(float[] x, float[] weight, int n, int inDim, int outDim)
    {
        var y = new float[n * outDim];
        if (Bf16Matmuls && Gemm.HasFastBf16)
        {
            var w16 = _bf16Weights.GetValue(weight, w => { var b = new ushort[w.Length]; Bf16.FromSingle(w, b); return b; });
            var x16 = System.Buffers.ArrayPool<ushort>.Shared.Rent(n * inDim);
            Bf16.FromSingle(x.AsSpan(0, n * inDim), x16);
            Gemm.GemmBf16(false, true, n, outDim, inDim, 1f, x16, inDim, w16, inDim, 0f, y, outDim);
            System.Buffers.ArrayPool<ushort>.Shared.Return(x16);
        }
        else Gemm.Sgemm(false, true, n, outDim, inDim, 1f, x, inDim, weight, inDim, 0f, y, outDim);
        return y;
    }

    // y = x · rsqrt(mean(x²) + eps) · (1 + w), row by row; y may be x
    void RmsNorm(float[] x, float[] weight, float[] y, int rows, int dim)
    {
        float eps = Config.RmsNormEps;
        Parallel.For(0, rows, r =>
        {
            var xr = x.AsSpan(r * dim, dim); var yr = y.AsSpan(r * dim, dim);
            float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / dim + eps);
            TensorPrimitives.Multiply(xr, scale, yr);
            TensorPrimitives.MultiplyAdd(yr, weight.AsSpan(0, dim), yr, yr);  // y·(1 + w) = y·w + y
        });
    }

    // cos/sin [T, D/2] for RoPE with this base and linear scaling, float32 as the reference computes them
    (float[] Cos, float[] Sin) RopeTable(float theta, float scaling, int T)
    {
        lock (_rope)
        {
            if (_rope.TryGetValue((theta, scaling, T), out var t)) return t;
            int half = Config.HeadDim / 2;
            var cos = new float[T * half]; var sin = new float[T * half];
            for (int i = 0; i < half; i++)
            {
                float invFreq = 1f / MathF.Pow(theta, 2f * i / Config.HeadDim) / scaling;
                for (int p = 0; p < T; p++)
                {
                    float angle = p * invFreq;
                    cos[p * half + i] = MathF.Cos(angle); sin[p * half + i] = MathF.Sin(angle);
                }
            }
            return _rope[(theta, scaling, T)] = (cos, sin);
        }
    }

    // rotate pairs (i, i + D/2) of every head by the token's position (within its row)
    void Rope(float[] q, float[] cos, float[] sin, int n, int T, int heads)
    {
        int D = Config.HeadDim, half = D / 2;
        Parallel.For(0, n, t =>
        {
            int p = t % T;
            for (int hd = 0; hd < heads; hd++)
            {
                var v = q.AsSpan((t * heads + hd) * D, D);
                for (int i = 0; i < half; i++)
                {
                    float a = v[i], b = v[i + half], cs = cos[p * half + i], sn = sin[p * half + i];
                    v[i] = a * cs - b * sn;
                    v[i + half] = b * cs + a * sn;
                }
            }
        });
    }

    // softmax(q·kᵀ·scale [softcapped, causal/sliding mask]) · v per row and head, GQA; out [N, Hq·D]
    float[] Attention(float[] q, float[] k, float[] v, int rows, int T, int? window)
    {
        var c = Config;
        int D = c.HeadDim, Hq = c.Heads, group = c.Heads / c.KvHeads, qd = c.QDim, kvd = c.KvDim;
        float scale = 1f / MathF.Sqrt(c.QueryPreAttnScalar);
        var outp = new float[rows * T * qd];
        var scores = new float[T * T];
        for (int r = 0; r < rows; r++)
            for (int hq = 0; hq < Hq; hq++)
            {
                int hk = hq / group;
                var qh = q.AsSpan(r * T * qd + hq * D);
                var kh = k.AsSpan(r * T * kvd + hk * D);
                var vh = v.AsSpan(r * T * kvd + hk * D);
                Gemm.Sgemm(false, true, T, T, D, scale, qh, qd, kh, kvd, 0f, scores, T);  // [T, T]
                Parallel.For(0, T, i =>
                {
                    var s = scores.AsSpan(i * T, T);
                    int lo = window is int w ? Math.Max(0, i - w + 1) : 0;          // keys lo..i are visible
                    var visible = s[lo..(i + 1)];
                    if (c.AttnSoftcap is float cap)
                    {
                        TensorPrimitives.Multiply(visible, 1f / cap, visible);
                        TensorPrimitives.Tanh(visible, visible);
                        TensorPrimitives.Multiply(visible, cap, visible);
                    }
                    float max = TensorPrimitives.Max(visible);
                    TensorPrimitives.Subtract(visible, max, visible);
                    TensorPrimitives.Exp(visible, visible);
                    TensorPrimitives.Divide(visible, TensorPrimitives.Sum(visible), visible);
                    s[..lo].Clear();
                    s[(i + 1)..].Clear();
                });
                Gemm.Sgemm(false, false, T, D, T, 1f, scores, T, vh, kvd, 0f, outp.AsSpan(r * T * qd + hq * D), qd); // [T, D]
            }
        return outp;
    }

    // gate := gelu_tanh(gate) · up, gelu_tanh(g) = 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³)))
    static void GeluTanhMul(float[] gate, float[] up)
    {
        const float c0 = 0.7978845608028654f; // √(2/π)
        const int Chunk = 4096;
        Parallel.For(0, (gate.Length + Chunk - 1) / Chunk, () => new float[Chunk], (chunk, _, t) =>
        {
            int lo = chunk * Chunk, n = Math.Min(Chunk, gate.Length - lo);
            var g = gate.AsSpan(lo, n); var u = up.AsSpan(lo, n); var inner = t.AsSpan(0, n);
            TensorPrimitives.Multiply(g, g, inner);                          // g²
            TensorPrimitives.Multiply(inner, 0.044715f * c0, inner);
            TensorPrimitives.Add(inner, c0, inner);                          // c0·(1 + 0.044715·g²)
            TensorPrimitives.Multiply(inner, g, inner);                      // c0·(g + 0.044715·g³)
            TensorPrimitives.Tanh(inner, inner);
            TensorPrimitives.Add(inner, 1f, inner);
            TensorPrimitives.Multiply(inner, g, inner);
            TensorPrimitives.Multiply(inner, u, inner);
            TensorPrimitives.Multiply(inner, 0.5f, g);
            return t;
        }, _ => { });
    }

    static void Softcap(float[] x, float cap)
    {
        Parallel.For(0, (x.Length + 65535) / 65536, chunk =>
        {
            var s = x.AsSpan(chunk * 65536, Math.Min(65536, x.Length - chunk * 65536));
            TensorPrimitives.Divide(s, cap, s);
            TensorPrimitives.Tanh(s, s);
            TensorPrimitives.Multiply(s, cap, s);
        });
    }

    /// <summary>
    /// Per-token next-token cross-entropy (nats) from logits [rows·T, V]: entry t of a row predicts token t+1;
    /// the last position of each row has none and gets NaN.
    /// </summary>
    public float[] CrossEntropy(ReadOnlySpan<int> ids, int rows, float[] logits)
    {
        int T = ids.Length / rows, V = Config.VocabSize;
        var ce = new float[ids.Length];
        var idArr = ids.ToArray();
        Parallel.For(0, ids.Length, t =>
        {
            if (t % T == T - 1) { ce[t] = float.NaN; return; }
            var row = logits.AsSpan(t * V, V);
            float max = TensorPrimitives.Max(row);
            double sum = 0;
            foreach (float z in row) sum += Math.Exp(z - max);
            ce[t] = (float)(Math.Log(sum) + max - row[idArr[t + 1]]);
        });
        return ce;
    }
}
