namespace SaeCluster.Compute;

/// <summary>One tensor of a safetensors file; <see cref="Begin"/> and <see cref="End"/> are byte offsets
/// relative to the start of the data region (the byte after the header).</summary>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDtype Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long dim in Shape) count *= dim;
            return count;
        }
    }

    /// <summary>Bytes of data: <c>End - Begin</c>.</summary>
    public long ByteLength => End - Begin;

    public override string ToString() => $"'{Name}' {Dtype} [{string.Join(", ", Shape)}] at [{Begin}, {End})";
}
