namespace SaeCluster.Models;

/// <summary>Where in a decoder layer an activation is captured (Gemma Scope naming, plus attn_out).</summary>
public enum HookSite
{
    /// <summary>Residual stream after the layer (SAELens blocks.L.hook_resid_post).</summary>
    Res,
    /// <summary>MLP output as added to the residual: after post_feedforward_layernorm (Gemma 1: the raw MLP output).</summary>
    Mlp,
    /// <summary>Attention heads concatenated (head-major) before o_proj, [tokens, Hq·D] (hook_z).</summary>
    Att,
    /// <summary>o_proj output, before any post-attention norm, [tokens, d].</summary>
    AttnOut,
}

public static class HookSites
{
    public static string Name(this HookSite s) => s switch
    {
        HookSite.Res => "res", HookSite.Mlp => "mlp", HookSite.Att => "att", _ => "attn_out",
    };

    public static bool TryParse(string name, out HookSite site)
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "res": site = HookSite.Res; return true;
            case "mlp": site = HookSite.Mlp; return true;
            case "att": site = HookSite.Att; return true;
            case "attn_out": site = HookSite.AttnOut; return true;
            default: site = default; return false;
        }
    }

    /// <summary>Width of the activation at this site.</summary>
    public static int Width(this HookSite s, GemmaConfig c) => s == HookSite.Att ? c.QDim : c.Hidden;
}
