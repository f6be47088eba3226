namespace SaeCluster.Compute;

/// <summary>The legacy <c>torch.*Storage</c> class names that name a storage's element type in a <c>.pt</c> pickle.</summary>
internal static class TorchStorageClasses
{
    private static readonly (string Name, SafetensorsDtype Dtype)[] Classes =
    [
        ("FloatStorage", SafetensorsDtype.F32),
        ("DoubleStorage", SafetensorsDtype.F64),
        ("HalfStorage", SafetensorsDtype.F16),
        ("BFloat16Storage", SafetensorsDtype.BF16),
        ("LongStorage", SafetensorsDtype.I64),
        ("IntStorage", SafetensorsDtype.I32),
        ("ShortStorage", SafetensorsDtype.I16),
        ("CharStorage", SafetensorsDtype.I8),
        ("ByteStorage", SafetensorsDtype.U8),
        ("BoolStorage", SafetensorsDtype.BOOL),
    ];

    /// <summary>Every supported class name (without the <c>torch.</c> module), for registration and error messages.</summary>
    public static IEnumerable<string> Names => Classes.Select(c => c.Name);

    /// <summary>The element type of <c>torch.{name}</c>.</summary>
    public static bool TryGetDtype(string name, out SafetensorsDtype dtype)
    {
        foreach (var (candidate, candidateDtype) in Classes)
        {
            if (candidate == name)
            {
                dtype = candidateDtype;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>The class name torch uses for a storage of <paramref name="dtype"/>; false for U16/U32/U64, which torch 1.13 cannot store.</summary>
    public static bool TryGetName(SafetensorsDtype dtype, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? name)
    {
        foreach (var (candidate, candidateDtype) in Classes)
        {
            if (candidateDtype == dtype)
            {
                name = candidate;
                return true;
            }
        }
        name = null;
        return false;
    }

    /// <summary>The dtypes that have a storage class, for error messages.</summary>
    public static string SupportedDtypes => string.Join(", ", Classes.Select(c => c.Dtype));
}
