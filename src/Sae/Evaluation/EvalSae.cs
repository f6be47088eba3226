using SaeCluster.Models;

namespace SaeCluster.Sae;

/// <summary>An SAE to evaluate: its weights, where its results go, and the model site it reads and is spliced into.</summary>
public sealed record EvalSae(string Name, string Folder, LoadedSae Sae, int Layer, HookSite Site)
{
    public SaeWeights Weights => Sae.Weights;

    /// <summary>
    /// The site from the SAE's hook name (or <paramref name="hookOverride"/>), checked against the model: the layer exists
    /// and the site's width is the SAE's d_in.
    /// </summary>
    public static EvalSae For(LoadedSae sae, GemmaConfig model, string? hookOverride = null)
    {
        string? hook = hookOverride ?? sae.Weights.Provenance.HookName;
        var p = sae.Weights.Provenance with { HookName = hook };
        if (hook == null)
            throw new ConfigException("--hook", $"{sae.Location} does not say which hook it reads; pass --hook blocks.L.hook_resid_post (or hook_mlp_out, attn.hook_z, hook_attn_out)");
        if (p.Layer is not int layer || p.Site is not string siteName || !HookSites.TryParse(siteName, out var site))
            throw new ConfigException("--hook", $"{sae.Location}: hook '{hook}' is not a site the model reports (blocks.L.hook_resid_post, hook_mlp_out, attn.hook_z, hook_attn_out)");
        if (layer >= model.Layers) throw new ConfigException("--model", $"{sae.Location} reads layer {layer}; the model has layers 0-{model.Layers - 1}");
        int width = site.Width(model);
        if (width != sae.Weights.DIn) throw new ConfigException("--model", $"{sae.Location} takes d_in = {sae.Weights.DIn}; {hook} of this model is {width} wide");
        string folder = Directory.Exists(sae.Location) ? sae.Location : Path.GetDirectoryName(sae.Location)!;
        if (sae.Format == SaeFormat.Sparsify) folder = sae.Location;
        string name = Path.GetFileName(folder.TrimEnd('/'));
        return new EvalSae(name, folder, sae with { Weights = sae.Weights with { Provenance = p } }, layer, site);
    }
}
