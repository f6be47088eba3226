using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>Reading the plain values of a torch.save dict (what <see cref="TorchFile.Read"/> returns) with errors naming the file and key.</summary>
internal static class TorchPickles
{
    public static string Describe(object? v) => v switch
    {
        null => "None",
        OrderedDictionary<string, object?> d => $"a dict with keys {string.Join(", ", d.Keys)}",
        List<object?> l => $"a list of {l.Count}",
        object?[] t => $"a tuple of {t.Length}",
        StoredTensor t => $"a {t.Dtype} tensor {TensorReads.Shape(t.Shape)}",
        string s => $"the string '{s}'",
        _ => $"{v.GetType().Name} {v}",
    };

    public static OrderedDictionary<string, object?> Dict(object? root, string file) =>
        root as OrderedDictionary<string, object?> ?? throw new DataException(file, $"expected a dict, found {Describe(root)}");

    public static StoredTensor Tensor(OrderedDictionary<string, object?> d, string key, string file) =>
        d.TryGetValue(key, out var v) && v is StoredTensor t ? t
        : throw new DataException(file, d.ContainsKey(key) ? $"{key}: expected a tensor, found {Describe(d[key])}" : $"no '{key}' (it has {string.Join(", ", d.Keys)})");

    public static long Int(OrderedDictionary<string, object?> d, string key, string file) =>
        d.TryGetValue(key, out var v) && v is long l ? l
        : throw new DataException(file, d.ContainsKey(key) ? $"{key}: expected an int, found {Describe(d[key])}" : $"no '{key}' (it has {string.Join(", ", d.Keys)})");

    public static string? String(OrderedDictionary<string, object?> d, string key, string file) =>
        !d.TryGetValue(key, out var v) || v == null ? null
        : v as string ?? throw new DataException(file, $"{key}: expected a string, found {Describe(v)}");
}
