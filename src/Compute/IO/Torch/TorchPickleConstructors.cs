using System.Numerics;
using Razorvine.Pickle;

namespace SaeCluster.Compute;

/// <summary>
/// The Razorvine.Pickle constructors for the globals <see cref="TorchPickleGuard.AllowedGlobals"/> lets through.
/// Razorvine keeps constructors in one process-wide table; <see cref="EnsureRegistered"/> adds these once. They are
/// stateless: the per-file state travels in the <see cref="TorchStorage"/> objects that persistent ids resolve to.
/// </summary>
internal static class TorchPickleConstructors
{
    private static readonly Lock Gate = new();
    private static bool _registered;

    /// <summary>Registers the constructors (idempotent, thread-safe among callers of this method).</summary>
    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered) return;
            Unpickler.registerConstructor("torch._utils", "_rebuild_tensor_v2", new RebuildTensor());
            Unpickler.registerConstructor("torch._utils", "_rebuild_parameter", new RebuildParameter());
            Unpickler.registerConstructor("collections", "OrderedDict", new NewOrderedDict());
            foreach (string name in TorchStorageClasses.Names)
            {
                TorchStorageClasses.TryGetDtype(name, out SafetensorsDtype dtype);
                Unpickler.registerConstructor("torch", name, new StorageClass(dtype));
            }
            _registered = true;
        }
    }

    /// <summary>The value a <c>torch.*Storage</c> global stands for inside a persistent id: its element type.</summary>
    public sealed class StorageClass(SafetensorsDtype dtype) : IObjectConstructor
    {
        public SafetensorsDtype Dtype { get; } = dtype;

        public object construct(object[] args) =>
            throw new TorchPickleContentException($"the storage class for {Dtype} is called; torch files only name it in persistent ids");
    }

    /// <summary><c>_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])</c>.</summary>
    private sealed class RebuildTensor : IObjectConstructor
    {
        public object construct(object[] args)
        {
            if (args.Length is not (6 or 7))
                throw new TorchPickleContentException($"_rebuild_tensor_v2 takes 6 or 7 arguments, got {args.Length}");
            if (args[0] is not TorchStorage storage)
                throw new TorchPickleContentException(
                    $"_rebuild_tensor_v2's storage argument is {TorchPickleContentException.PythonTypeOf(args[0])}, not a persistent-id storage");
            long offset = ToInt64(args[1], "storage_offset");
            long[] size = ToInt64Tuple(args[2], "size");
            long[] stride = ToInt64Tuple(args[3], "stride");
            return storage.View(offset, size, stride);
        }

        private static long[] ToInt64Tuple(object? value, string role) => value is object[] items
            ? [.. items.Select(item => ToInt64(item, role))]
            : throw new TorchPickleContentException(
                $"_rebuild_tensor_v2's {role} argument is {TorchPickleContentException.PythonTypeOf(value)}, not a tuple of ints");
    }

    /// <summary><c>_rebuild_parameter(tensor, requires_grad, backward_hooks)</c>: the tensor itself.</summary>
    private sealed class RebuildParameter : IObjectConstructor
    {
        public object construct(object[] args) => args is [StoredTensor tensor, ..]
            ? tensor
            : throw new TorchPickleContentException("_rebuild_parameter's first argument is not a tensor");
    }

    /// <summary><c>collections.OrderedDict()</c> (also what every EMPTY_DICT is rewritten to).</summary>
    private sealed class NewOrderedDict : IObjectConstructor
    {
        public object construct(object[] args) => args.Length == 0
            ? new PickledDict()
            : throw new TorchPickleContentException("collections.OrderedDict is called with arguments; torch files call it with none");
    }

    /// <summary>An unpickled int (Razorvine gives int, long or BigInteger) as a long.</summary>
    public static long ToInt64(object? value, string role) => value switch
    {
        int i => i,
        long l => l,
        BigInteger b when b >= long.MinValue && b <= long.MaxValue => (long)b,
        _ => throw new TorchPickleContentException($"{role} is {TorchPickleContentException.PythonTypeOf(value)}, not a 64-bit int"),
    };
}
