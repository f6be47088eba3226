namespace SaeCluster.Sae;

/// <summary>The SAE file formats SaeCluster reads and writes (../shared/reference/sae-formats.md).</summary>
public enum SaeFormat
{
    /// <summary>SAELens: <c>cfg.json</c> (v6 or the legacy v3–v5 spellings) + <c>sae_weights.safetensors</c> (+ <c>sparsity.safetensors</c>).</summary>
    SaeLens,
    /// <summary>Gemma Scope: one <c>params.npz</c>, no config.</summary>
    GemmaScope,
    /// <summary>dictionary_learning: <c>ae.pt</c> (torch.save) + <c>config.json</c>.</summary>
    DictLearn,
    /// <summary>EleutherAI sparsify: <c>&lt;hookpoint&gt;/cfg.json</c> + <c>sae.safetensors</c>.</summary>
    Sparsify,
    /// <summary>The FunctionGemma-270M release: a plain torch.save dict <c>sae_layer_NN.pt</c>.</summary>
    FunctionGemma,
}

public static class SaeFormatNames
{
    public static readonly SaeFormat[] All = Enum.GetValues<SaeFormat>();

    public static string ToName(this SaeFormat f) => f switch
    {
        SaeFormat.SaeLens => "saelens",
        SaeFormat.GemmaScope => "gemmascope",
        SaeFormat.DictLearn => "dictlearn",
        SaeFormat.Sparsify => "sparsify",
        _ => "functiongemma",
    };

    /// <summary>What a user reads: "SAELens", "dictionary_learning", ….</summary>
    public static string Title(this SaeFormat f) => f switch
    {
        SaeFormat.SaeLens => "SAELens",
        SaeFormat.GemmaScope => "Gemma Scope",
        SaeFormat.DictLearn => "dictionary_learning",
        SaeFormat.Sparsify => "sparsify",
        _ => "FunctionGemma",
    };

    public const string Choices = "saelens, gemmascope, dictlearn, sparsify or functiongemma";

    public static SaeFormat Parse(string name, string field) => name.Trim().ToLowerInvariant() switch
    {
        "saelens" or "sae_lens" or "sae-lens" => SaeFormat.SaeLens,
        "gemmascope" or "gemma_scope" or "gemma-scope" => SaeFormat.GemmaScope,
        "dictlearn" or "dictionary_learning" or "dictionary-learning" => SaeFormat.DictLearn,
        "sparsify" => SaeFormat.Sparsify,
        "functiongemma" => SaeFormat.FunctionGemma,
        _ => throw new ConfigException(field, $"unknown SAE format '{name}' (expected {Choices})"),
    };
}
