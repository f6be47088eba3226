using System.Text.RegularExpressions;

namespace SaeCluster.Sae;

/// <summary>
/// Where an SAE was trained, as far as its files say: the model, the hook in TransformerLens naming
/// (<c>blocks.{L}.hook_resid_post</c>, <c>blocks.{L}.hook_mlp_out</c>, <c>blocks.{L}.attn.hook_z</c>,
/// <c>blocks.{L}.hook_attn_out</c>), the training context and dataset. Every field may be unknown.
/// </summary>
public sealed partial record SaeProvenance(
    string? ModelName = null, string? HookName = null, int? ContextSize = null, string? DatasetPath = null,
    bool PrependBos = true, int? HookHeadIndex = null)
{
    public static readonly SaeProvenance Unknown = new();

    /// <summary>The block index, parsed from <c>blocks.{L}.…</c> (or sparsify's <c>layers.{L}</c>).</summary>
    public int? Layer => HookName != null && LayerPattern().Match(HookName) is { Success: true } m ? int.Parse(m.Groups[1].Value) : null;

    /// <summary>Our site name (res, mlp, att, attn_out), or null for a hook we do not produce.</summary>
    public string? Site => HookName == null ? null
        : HookName.EndsWith(".hook_resid_post") ? "res"
        : HookName.EndsWith(".hook_mlp_out") ? "mlp"
        : HookName.EndsWith(".attn.hook_z") ? "att"
        : HookName.EndsWith(".hook_attn_out") ? "attn_out"
        : null;

    /// <summary>The TransformerLens hook name of a site of block <paramref name="layer"/>.</summary>
    public static string HookNameFor(int layer, string site) => site switch
    {
        "res" => $"blocks.{layer}.hook_resid_post",
        "mlp" => $"blocks.{layer}.hook_mlp_out",
        "att" => $"blocks.{layer}.attn.hook_z",
        "attn_out" => $"blocks.{layer}.hook_attn_out",
        _ => throw new ArgumentOutOfRangeException(nameof(site), site, "unknown site"),
    };

    /// <summary>
    /// The Hugging Face module whose output (input, for att) the site is, relative to the decoder
    /// (<c>model.layers.{L}</c>): Gemma's residual stream after the block, the MLP output after its post-norm
    /// (Gemma 2/3; Gemma 1 has none), the heads before <c>o_proj</c>, <c>o_proj</c>'s output.
    /// </summary>
    public string? HfModule => (Layer, Site) switch
    {
        (int l, "res") => $"model.layers.{l}",
        (int l, "mlp") => $"model.layers.{l}.post_feedforward_layernorm",
        (int l, "att") => $"model.layers.{l}.self_attn.o_proj (input)",
        (int l, "attn_out") => $"model.layers.{l}.self_attn.o_proj",
        _ => null,
    };

    /// <summary>sparsify's hookpoint folder name: <c>layers.{L}</c> for the residual stream, else the module path.</summary>
    public string SparsifyHookpoint => (Layer, Site) switch
    {
        (int l, "res") => $"layers.{l}",
        (int l, "mlp") => $"layers.{l}.post_feedforward_layernorm",
        (int l, "att") => $"layers.{l}.self_attn.o_proj",
        (int l, "attn_out") => $"layers.{l}.self_attn.o_proj",
        (int l, _) => $"layers.{l}",
        _ => "sae",
    };

    /// <summary>Reads a sparsify hookpoint (<c>layers.{L}</c>, <c>embed_tokens</c>, …) back as a hook name where it is one of ours.</summary>
    public static string? HookNameFromSparsify(string hookpoint) =>
        SparsifyLayer().Match(hookpoint) is { Success: true } m ? HookNameFor(int.Parse(m.Groups[1].Value), "res") : null;

    [GeneratedRegex(@"(?:^|\.)(?:blocks|layers)\.(\d+)(?:\.|$)")]
    private static partial Regex LayerPattern();

    [GeneratedRegex(@"^layers\.(\d+)$")]
    private static partial Regex SparsifyLayer();
}
