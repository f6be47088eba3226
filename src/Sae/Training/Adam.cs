using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SaeCluster.Sae;

/// <summary>Adam with bias correction, one fused SIMD pass per parameter, Parallel.For over chunks.</summary>
public static class Adam
{
    const int Chunk = 1 << 16;

    /// <param name="t">1-based step count for bias correction.</param>
    public static void Update(Parameter p, float lr, float beta1, float beta2, float eps, long t)
    {
        float c1 = 1f / (1f - MathF.Pow(beta1, t)), c2 = 1f / (1f - MathF.Pow(beta2, t));
        // p −= lr · (m·c1) / (sqrt(v·c2) + eps)
        float step = lr * c1;
        int n = p.Length, chunks = (n + Chunk - 1) / Chunk;
        float[] w = p.Value, g = p.Grad, m = p.M, v = p.V;
        Parallel.For(0, chunks, c =>
        {
            int lo = c * Chunk, hi = Math.Min(n, lo + Chunk);
            UpdateRange(w.AsSpan(lo, hi - lo), g.AsSpan(lo, hi - lo), m.AsSpan(lo, hi - lo), v.AsSpan(lo, hi - lo), step, beta1, beta2, c2, eps);
        });
    }

    /// <summary>
    /// Adam on a matrix of unit-norm rows of <paramref name="rowLength"/>, each row renormalised to unit
    /// length right after its update while it is in cache (one pass over the parameter instead of two).
    /// </summary>
    public static void UpdateUnitRows(Parameter p, int rowLength, float lr, float beta1, float beta2, float eps, long t)
    {
        float c1 = 1f / (1f - MathF.Pow(beta1, t)), c2 = 1f / (1f - MathF.Pow(beta2, t));
        float step = lr * c1;
        int rows = p.Length / rowLength, rowsPerTask = Math.Max(1, Chunk / rowLength);
        float[] w = p.Value, g = p.Grad, m = p.M, v = p.V;
        Parallel.For(0, (rows + rowsPerTask - 1) / rowsPerTask, task =>
        {
            for (int r = task * rowsPerTask, end = Math.Min(rows, r + rowsPerTask); r < end; r++)
            {
                int lo = r * rowLength;
                var row = w.AsSpan(lo, rowLength);
                UpdateRange(row, g.AsSpan(lo, rowLength), m.AsSpan(lo, rowLength), v.AsSpan(lo, rowLength), step, beta1, beta2, c2, eps);
                float norm = System.Numerics.Tensors.TensorPrimitives.Norm(row);
                if (norm > 0) System.Numerics.Tensors.TensorPrimitives.Multiply(row, 1f / norm, row);
            }
        });
    }

    static void UpdateRange(Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float step, float b1, float b2, float c2, float eps)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float w0 = ref MemoryMarshal.GetReference(w), m0 = ref MemoryMarshal.GetReference(m), v0 = ref MemoryMarshal.GetReference(v);
            ref float g0 = ref MemoryMarshal.GetReference(g);
            Vector512<float> vb1 = Vector512.Create(b1), vb1c = Vector512.Create(1 - b1), vb2 = Vector512.Create(b2), vb2c = Vector512.Create(1 - b2);
            Vector512<float> vc2 = Vector512.Create(c2), veps = Vector512.Create(eps), vstep = Vector512.Create(step);
            for (; i + 16 <= w.Length; i += 16)
            {
                var gi = Vector512.LoadUnsafe(ref g0, (nuint)i);
                var mi = vb1 * Vector512.LoadUnsafe(ref m0, (nuint)i) + vb1c * gi;
                var vi = vb2 * Vector512.LoadUnsafe(ref v0, (nuint)i) + vb2c * gi * gi;
                mi.StoreUnsafe(ref m0, (nuint)i);
                vi.StoreUnsafe(ref v0, (nuint)i);
                var upd = vstep * mi / (Vector512.Sqrt(vi * vc2) + veps);
                (Vector512.LoadUnsafe(ref w0, (nuint)i) - upd).StoreUnsafe(ref w0, (nuint)i);
            }
        }
        for (; i < w.Length; i++)
        {
            float gi = g[i];
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            w[i] -= step * m[i] / (MathF.Sqrt(v[i] * c2) + eps);
        }
    }
}
