using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>Option values shared by several commands, parsed with errors that name the option.</summary>
public static class CliValues
{
    public static EncoderPrecision Precision(string? p, string option = "--precision") => PrecisionNames.ParseEncoder(p, option);

    public static SafetensorsDtype StorageDtype(string? d, string option = "--dtype") => PrecisionNames.ParseStorageDtype(d, option);
}
