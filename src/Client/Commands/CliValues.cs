using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>Option values shared by several commands, parsed with errors that name the option.</summary>
public static class CliValues
{
    public static EncoderPrecision Precision(string? p, string option = "--precision") => (p ?? "auto").ToLowerInvariant() switch
    {
        "auto" => EncoderPrecision.Auto,
        "fp32" or "float32" => EncoderPrecision.Float32,
        "bf16" or "bfloat16" => EncoderPrecision.BFloat16,
        _ => throw new ConfigException(option, $"unknown precision '{p}' (auto, fp32 or bf16)"),
    };

    public static SafetensorsDtype StorageDtype(string? d, string option = "--dtype") => (d ?? "").ToLowerInvariant() switch
    {
        "f32" or "float32" => SafetensorsDtype.F32,
        "bf16" or "bfloat16" => SafetensorsDtype.BF16,
        "f16" or "float16" => SafetensorsDtype.F16,
        _ => throw new ConfigException(option, $"unknown dtype '{d}' (f32, bf16, f16)"),
    };
}
