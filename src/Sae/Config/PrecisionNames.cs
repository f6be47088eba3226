using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// The one place precision and storage-dtype names are parsed and written (YAML configs, sweeps, CLI
/// options): errors name the field or option.
/// </summary>
public static class PrecisionNames
{
    /// <summary>"auto" (or absent) | "fp32"/"float32" | "bf16"/"bfloat16", case-insensitive.</summary>
    public static EncoderPrecision ParseEncoder(string? value, string field = "precision") => (value ?? "auto").ToLowerInvariant() switch
    {
        "auto" => EncoderPrecision.Auto,
        "fp32" or "float32" => EncoderPrecision.Float32,
        "bf16" or "bfloat16" => EncoderPrecision.BFloat16,
        var p => throw new ConfigException(field, $"unknown precision '{p}' (auto, fp32 or bf16)"),
    };

    public static string ToName(this EncoderPrecision p) => p switch
    {
        EncoderPrecision.Auto => "auto",
        EncoderPrecision.Float32 => "fp32",
        EncoderPrecision.BFloat16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>
    /// Whether matmuls under <paramref name="p"/> run in bf16: fp32 never, bf16 always, auto where this machine
    /// runs bf16 GEMMs faster (<see cref="Bf16Choice"/>). The Gemma forward of activations and producers.
    /// </summary>
    public static bool RunsBf16(this EncoderPrecision p) => p switch
    {
        EncoderPrecision.Float32 => false,
        EncoderPrecision.BFloat16 => true,
        _ => Bf16Choice.Preferred,
    };

    /// <summary>Activation/weight storage dtype: "f32"/"float32" | "bf16"/"bfloat16" | "f16"/"float16", case-insensitive.</summary>
    public static SafetensorsDtype ParseStorageDtype(string? value, string field = "--dtype") => (value ?? "").ToLowerInvariant() switch
    {
        "f32" or "float32" => SafetensorsDtype.F32,
        "bf16" or "bfloat16" => SafetensorsDtype.BF16,
        "f16" or "float16" => SafetensorsDtype.F16,
        _ => throw new ConfigException(field, $"unknown dtype '{value}' (f32, bf16, f16)"),
    };

    /// <summary>Lower-case name of a storage dtype ("bf16", "f16", "f32").</summary>
    public static string StorageName(SafetensorsDtype d) => d switch
    {
        SafetensorsDtype.F32 => "f32",
        SafetensorsDtype.BF16 => "bf16",
        SafetensorsDtype.F16 => "f16",
        _ => throw new ArgumentOutOfRangeException(nameof(d), $"{d} is not a storage dtype (f32, bf16, f16)"),
    };
}
