namespace SaeCluster.Compute;

/// <summary>Element types of the safetensors format; member names are the header spellings.</summary>
public enum SafetensorsDtype
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    U16,
    U32,
    U64,
    BOOL,
}
