using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>Shape-checked tensor reads and the layout changes the formats need.</summary>
internal static class TensorReads
{
    public static string Shape(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";

    /// <summary>Reads <paramref name="name"/> from a safetensors file as float32, failing (naming file, tensor and what was expected) on a missing tensor or another shape.</summary>
    public static float[] Float(SafetensorsFile f, string name, long[] shape, string expectedFrom)
    {
        if (!f.TryGet(name, out var info)) throw new DataException(f.Path, $"no tensor '{name}' (it has {string.Join(", ", f.Tensors.Select(t => t.Name))})");
        if (!info.Shape.SequenceEqual(shape))
            throw new DataException(f.Path, $"{name} has shape {Shape(info.Shape)}, expected {Shape(shape)} ({expectedFrom})");
        if (!FloatConversion.IsFloat(info.Dtype)) throw new DataException(f.Path, $"{name} is {info.Dtype}; SAE weights must be F32, F16, BF16 or F64");
        return f.ReadAllAsFloat(name);
    }

    /// <summary>A stored tensor as float32, failing on another shape or a non-float dtype.</summary>
    public static float[] Float(StoredTensor t, string file, string name, long[] shape, string expectedFrom)
    {
        if (!t.Shape.SequenceEqual(shape))
            throw new DataException(file, $"{name} has shape {Shape(t.Shape)}, expected {Shape(shape)} ({expectedFrom})");
        if (!FloatConversion.IsFloat(t.Dtype)) throw new DataException(file, $"{name} is {t.Dtype}; SAE weights must be F32, F16, BF16 or F64");
        return t.ToFloat32();
    }

    /// <summary>[rows, cols] → [cols, rows].</summary>
    public static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        const int B = 64;
        Parallel.For(0, (rows + B - 1) / B, bi =>
        {
            int r0 = bi * B, r1 = Math.Min(rows, r0 + B);
            for (int c0 = 0; c0 < cols; c0 += B)
            {
                int c1 = Math.Min(cols, c0 + B);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) t[(long)c * rows + r] = a[(long)r * cols + c];
            }
        });
        return t;
    }

    /// <summary>Rounds float32 values to <paramref name="dtype"/> and back, as a loader casting to that dtype does.</summary>
    public static float[] RoundTo(float[] a, SafetensorsDtype dtype)
    {
        if (dtype == SafetensorsDtype.BF16) { var h = new ushort[a.Length]; Bf16.FromSingle(a, h); Bf16.ToSingle(h, a); }
        else if (dtype == SafetensorsDtype.F16) { var h = new ushort[a.Length]; F16.FromSingle(a, h); F16.ToSingle(h, a); }
        return a;
    }

    /// <summary>The dtype of the first tensor of a file (sparsify takes its dtype from there).</summary>
    public static SafetensorsDtype FirstDtype(SafetensorsFile f) => f.Tensors.Count > 0 ? f.Tensors[0].Dtype : SafetensorsDtype.F32;
}
