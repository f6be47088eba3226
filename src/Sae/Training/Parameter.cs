namespace SaeCluster.Sae;

/// <summary>A float32 trainable tensor with its gradient and Adam moments (pinned, so native GEMMs read it in place).</summary>
public sealed class Parameter
{
    public string Name { get; }
    public long[] Shape { get; }
    public float[] Value { get; }
    public float[] Grad { get; }
    public float[] M { get; }
    public float[] V { get; }

    public Parameter(string name, params long[] shape)
    {
        Name = name;
        Shape = shape;
        long n = 1;
        foreach (long s in shape) n *= s;
        if (n > Array.MaxLength) throw new ArgumentException($"parameter {name} has {n} elements, more than one array can hold");
        Value = GC.AllocateArray<float>((int)n, pinned: true);
        Grad = GC.AllocateArray<float>((int)n, pinned: true);
        M = GC.AllocateArray<float>((int)n, pinned: true);
        V = GC.AllocateArray<float>((int)n, pinned: true);
    }

    public int Length => Value.Length;
}
