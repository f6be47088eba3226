namespace SaeCluster.Sae;

/// <summary>The SAE families SaeCluster trains.</summary>
public enum SaeArchitecture
{
    /// <summary>ReLU encoder, loss = ‖x − x̂‖² + λ Σ fᵢ‖W_dec,i‖ (Anthropic "April update").</summary>
    Relu,
    /// <summary>Keep the k largest pre-activations per token; AuxK loss for dead latents.</summary>
    TopK,
    /// <summary>Keep the k·B largest pre-activations over the batch; saved as JumpReLU with one shared threshold.</summary>
    BatchTopK,
    /// <summary>f = z·H(z − θ), L0 penalty through straight-through estimators (Gemma Scope recipe).</summary>
    JumpRelu,
}

public static class SaeArchitectureNames
{
    public static string ToName(this SaeArchitecture a) => a switch
    {
        SaeArchitecture.Relu => "relu",
        SaeArchitecture.TopK => "topk",
        SaeArchitecture.BatchTopK => "batchtopk",
        SaeArchitecture.JumpRelu => "jumprelu",
        _ => throw new ArgumentOutOfRangeException(nameof(a)),
    };

    /// <summary>Parses "relu" | "topk" | "batchtopk" | "jumprelu" (case-insensitive; "standard"/"l1" mean relu).</summary>
    public static SaeArchitecture Parse(string name, string field) => name.Trim().ToLowerInvariant() switch
    {
        "relu" or "standard" or "l1" or "relu-l1" => SaeArchitecture.Relu,
        "topk" => SaeArchitecture.TopK,
        "batchtopk" or "batch-topk" => SaeArchitecture.BatchTopK,
        "jumprelu" => SaeArchitecture.JumpRelu,
        _ => throw new ConfigException(field, $"unknown architecture '{name}' (expected relu, topk, batchtopk or jumprelu)"),
    };
}
