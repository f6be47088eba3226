using System.Collections;
using Razorvine.Pickle;

namespace SaeCluster.Compute;

/// <summary>
/// Razorvine.Pickle's pickler for one torch file (protocol 2, like torch.save). Plain values go through Razorvine's own
/// dispatch; a <see cref="StoredTensor"/> goes through <see cref="TensorPickler"/>, which writes
/// <c>_rebuild_tensor_v2(BINPERSID(('storage', torch.XStorage, key, 'cpu', numel)), 0, size, stride, False, OrderedDict())</c>
/// and hands the storage reference to <see cref="persistentId"/>. Pickle only what <see cref="Normalize"/> returned:
/// Razorvine would otherwise pickle unknown objects as dicts of their public properties.
/// </summary>
internal sealed class TorchPickler : Pickler
{
    /// <summary>Deepest nesting of containers accepted (Razorvine stops at 200 levels of its own recursion).</summary>
    public const int MaxDepth = 64;

    private const string RootParameter = "root";
    private static readonly Lock Gate = new();
    private static bool _registered;
    private readonly List<StoredTensor> _storages = [];

    public TorchPickler() : base(useMemo: true)
    {
        lock (Gate)
        {
            if (_registered) return;
            registerCustomPickler(typeof(StoredTensor), new TensorPickler());
            registerCustomPickler(typeof(StorageClass), new StorageClassPickler());
            _registered = true;
        }
    }

    /// <summary>The tensors pickled so far, in storage-key order ("0", "1", …): each becomes entry <c>data/&lt;index&gt;</c>.</summary>
    public IReadOnlyList<StoredTensor> Storages => _storages;

    /// <summary>
    /// Checks <paramref name="root"/> and copies its containers (not tensor data) into the types Razorvine pickles the way
    /// Python expects: <see cref="OrderedDictionary{TKey, TValue}"/> for dicts, <see cref="List{T}"/> for lists, object?[] for
    /// tuples, long for ints, double for floats. Throws <see cref="ArgumentException"/> naming the path of anything else.
    /// Shared containers stay shared; cycles are refused.
    /// </summary>
    public static object? Normalize(object? root) => Normalize(root, RootParameter, 0, new Dictionary<object, object>(ReferenceEqualityComparer.Instance), new HashSet<object>(ReferenceEqualityComparer.Instance));

    private static object? Normalize(object? value, string where, int depth, Dictionary<object, object> done, HashSet<object> open)
    {
        switch (value)
        {
            case null or string or bool: return value;
            case StoredTensor tensor:
                return TorchStorageClasses.TryGetName(tensor.Dtype, out _)
                    ? tensor
                    : throw new ArgumentException($"{where} is a {tensor}; torch has no storage class for {tensor.Dtype} " +
                                                  $"(supported: {TorchStorageClasses.SupportedDtypes})", RootParameter);
            case int or long: return Convert.ToInt64(value);
            case float or double: return Convert.ToDouble(value);
        }
        if (depth >= MaxDepth) throw new ArgumentException($"{where}: containers are nested more than {MaxDepth} deep", RootParameter);
        if (done.TryGetValue(value, out object? normalized)) return normalized;
        if (!open.Add(value)) throw new ArgumentException($"{where}: the structure contains itself; torch files can only hold trees (and shared branches)", RootParameter);
        normalized = value switch
        {
            IDictionary<string, object?> dict => NormalizeDict(dict, where, depth, done, open),
            object?[] tuple when tuple.GetType() == typeof(object[]) =>
                tuple.Select((item, i) => Normalize(item, $"{where}[{i}]", depth + 1, done, open)).ToArray(),
            IList list when value.GetType() is not { IsArray: true } => NormalizeList(list, where, depth, done, open),
            _ => throw new ArgumentException(
                $"{where} is a {value.GetType().Name}; torch files hold dicts (IDictionary<string, object?>), lists, tuples (object?[]), " +
                "strings, ints, floats, bools, null and StoredTensor", RootParameter),
        };
        open.Remove(value);
        done[value] = normalized;
        return normalized;
    }

    private static OrderedDictionary<string, object?> NormalizeDict(IDictionary<string, object?> dict, string where, int depth,
        Dictionary<object, object> done, HashSet<object> open)
    {
        var result = new OrderedDictionary<string, object?>(dict.Count);
        foreach (var (key, item) in dict) result.Add(key, Normalize(item, $"{where}['{key}']", depth + 1, done, open));
        return result;
    }

    private static List<object?> NormalizeList(IList list, string where, int depth, Dictionary<object, object> done, HashSet<object> open)
    {
        var result = new List<object?>(list.Count);
        for (int i = 0; i < list.Count; i++) result.Add(Normalize(list[i], $"{where}[{i}]", depth + 1, done, open));
        return result;
    }

    /// <summary>A tensor's storage: pickled as its persistent id, so Razorvine writes it followed by BINPERSID.</summary>
    protected override bool persistentId(object pid, out object newpid)
    {
        if (pid is StorageRef storage && TorchStorageClasses.TryGetName(storage.Dtype, out string? className))
        {
            newpid = new object[] { "storage", new StorageClass(className), storage.Key, "cpu", storage.ElementCount };
            return true;
        }
        newpid = null!;
        return false;
    }

    private string AddStorage(StoredTensor tensor)
    {
        _storages.Add(tensor);
        return (_storages.Count - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>What <see cref="persistentId"/> turns into a persistent id.</summary>
    private sealed record StorageRef(string Key, SafetensorsDtype Dtype, long ElementCount);

    /// <summary>A <c>torch.XStorage</c> class, pickled as a GLOBAL.</summary>
    private sealed record StorageClass(string Name);

    private sealed class StorageClassPickler : IObjectPickler
    {
        public void pickle(object o, Stream outs, Pickler currentPickler)
        {
            outs.WriteByte(Opcodes.GLOBAL);
            outs.Write(System.Text.Encoding.ASCII.GetBytes($"torch\n{((StorageClass)o).Name}\n"));
        }
    }

    /// <summary>Writes a tensor as torch does; Razorvine memoizes it afterwards, so a tensor met twice is written once.</summary>
    private sealed class TensorPickler : IObjectPickler
    {
        private static readonly byte[] RebuildTensorGlobal = [Opcodes.GLOBAL, .. "torch._utils\n_rebuild_tensor_v2\n"u8];
        private static readonly byte[] EmptyOrderedDict = [Opcodes.GLOBAL, .. "collections\nOrderedDict\n"u8, Opcodes.EMPTY_TUPLE, Opcodes.REDUCE];

        public void pickle(object o, Stream outs, Pickler currentPickler)
        {
            var tensor = (StoredTensor)o;
            var pickler = currentPickler as TorchPickler
                ?? throw new InvalidOperationException("StoredTensor can only be pickled by TorchFile.Write");
            long[] strides = new long[tensor.Shape.Length];
            long step = 1;
            for (int d = strides.Length - 1; d >= 0; d--)
            {
                strides[d] = step;
                step *= tensor.Shape[d];
            }

            outs.Write(RebuildTensorGlobal);
            outs.WriteByte(Opcodes.MARK);
            pickler.save(new StorageRef(pickler.AddStorage(tensor), tensor.Dtype, tensor.ElementCount));
            pickler.save(0L);
            pickler.save(tensor.Shape.Select(d => (object)d).ToArray());
            pickler.save(strides.Select(s => (object)s).ToArray());
            pickler.save(false);
            outs.Write(EmptyOrderedDict);
            outs.WriteByte(Opcodes.TUPLE);
            outs.WriteByte(Opcodes.REDUCE);
        }
    }
}
