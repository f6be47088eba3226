namespace SaeCluster.Compute;

/// <summary>
/// One storage of a torch file (the bytes of entry <c>&lt;stem&gt;/data/&lt;key&gt;</c>) while its pickle is read. Tensors are
/// views into it; <see cref="View"/> makes each a contiguous <see cref="StoredTensor"/>.
/// </summary>
internal sealed class TorchStorage(string path, string key, SafetensorsDtype dtype, long elementCount, byte[] bytes)
{
    private bool _handedOut;

    /// <summary>Storage key: the entry name under <c>data/</c>.</summary>
    public string Key { get; } = key;

    /// <summary>Element type named by the storage class.</summary>
    public SafetensorsDtype Dtype { get; } = dtype;

    /// <summary>Elements the persistent id declares (numel).</summary>
    public long ElementCount { get; } = elementCount;

    /// <summary>
    /// The tensor [<paramref name="size"/>] with <paramref name="stride"/> at element <paramref name="offset"/>, gathered in
    /// row-major order. The first tensor that is exactly the whole storage, contiguous, takes the storage's array itself
    /// (no copy); every other view is a copy, so no two tensors share data.
    /// </summary>
    public StoredTensor View(long offset, long[] size, long[] stride)
    {
        if (!_handedOut && offset == 0 && IsContiguous(size, stride) && Product(size) == ElementCount)
        {
            _handedOut = true;
            return new StoredTensor(Dtype, size, bytes);
        }
        return StoredTensor.TryFromStrided(Dtype, size, stride, offset, bytes, out string? problem)
            ?? throw new TorchFormatException(path, $"tensor in storage '{Key}' ({Dtype}, {ElementCount} elements): {problem}");
    }

    private static bool IsContiguous(long[] size, long[] stride)
    {
        if (size.Length != stride.Length) return false;
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }

    private static long Product(long[] size)
    {
        long product = 1;
        foreach (long dim in size)
        {
            if (dim < 0 || (dim != 0 && product > long.MaxValue / dim)) return -1;
            product *= dim;
        }
        return product;
    }
}
