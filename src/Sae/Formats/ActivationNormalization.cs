namespace SaeCluster.Sae;

/// <summary>
/// How an SAE transforms its input before encoding and its output after decoding (SAELens
/// <c>normalize_activations</c>; ../shared/reference/sae-formats.md §2.5). Only SAELens files carry one.
/// </summary>
public enum ActivationNormalization
{
    /// <summary>Identity.</summary>
    None,
    /// <summary>Identity at encode time: a per-release scale SAELens folds in at <c>from_pretrained</c>, not at <c>load_from_disk</c>.</summary>
    ExpectedAverageOnlyIn,
    /// <summary>x·c going in and /c coming out, with c = √d_in / ‖x‖ per row.</summary>
    ConstantNormRescale,
    /// <summary>(x − mean) / (std + 1e-5) going in (unbiased std), ·std + mean coming out.</summary>
    LayerNorm,
}

public static class ActivationNormalizationNames
{
    public static string ToName(this ActivationNormalization n) => n switch
    {
        ActivationNormalization.None => "none",
        ActivationNormalization.ExpectedAverageOnlyIn => "expected_average_only_in",
        ActivationNormalization.ConstantNormRescale => "constant_norm_rescale",
        _ => "layer_norm",
    };

    /// <summary>Parses SAELens' spellings; a legacy bool maps false → none, true → expected_average_only_in, null → none.</summary>
    public static ActivationNormalization Parse(string? value, string file, string field) => value switch
    {
        null or "none" or "false" => ActivationNormalization.None,
        "true" or "expected_average_only_in" => ActivationNormalization.ExpectedAverageOnlyIn,
        "constant_norm_rescale" => ActivationNormalization.ConstantNormRescale,
        "layer_norm" => ActivationNormalization.LayerNorm,
        _ => throw new DataException(file, $"{field}: unknown normalisation '{value}' (expected none, expected_average_only_in, constant_norm_rescale or layer_norm)"),
    };

    /// <summary>Whether the transform changes the maths at encode time (so only SAELens can express it).</summary>
    public static bool ChangesInput(this ActivationNormalization n) => n is ActivationNormalization.ConstantNormRescale or ActivationNormalization.LayerNorm;
}
