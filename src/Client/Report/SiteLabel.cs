using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>
/// Where an SAE reads the model: a layer and a site kind (<c>res</c>, <c>mlp</c>, <c>att</c>, <c>attn_out</c>),
/// shown as <c>"{layer}.{site}"</c>, or <c>unknown</c>. Sites sort by layer, then in that order of kinds.
/// </summary>
internal sealed record SiteLabel(int? Layer, string? Kind) : IComparable<SiteLabel>
{
    static readonly string[] KindOrder = ["res", "mlp", "att", "attn_out"];

    /// <summary>The label sections and the table show.</summary>
    public string Label => Layer is int l && Kind != null ? $"{l}.{Kind}" : "unknown";

    /// <summary>The site of an SAE from its cfg.json: <c>saecluster.layer</c> + <c>saecluster.site</c>, else the hook name (<see cref="SaeProvenance"/>).</summary>
    public static SiteLabel From(int? layer, string? site, string? hookName)
    {
        if (layer != null && !string.IsNullOrEmpty(site)) return new SiteLabel(layer, site);
        var hook = new SaeProvenance(HookName: hookName);
        return hook.Layer is int l && hook.Site is string kind ? new SiteLabel(l, kind) : new SiteLabel(null, null);
    }

    /// <inheritdoc/>
    public int CompareTo(SiteLabel? other)
    {
        if (other is null) return 1;
        int byLayer = (Layer ?? int.MaxValue).CompareTo(other.Layer ?? int.MaxValue);
        if (byLayer != 0) return byLayer;
        int byKind = Rank(Kind).CompareTo(Rank(other.Kind));
        return byKind != 0 ? byKind : string.CompareOrdinal(Kind, other.Kind);
    }

    static int Rank(string? kind) => kind == null ? int.MaxValue : Array.IndexOf(KindOrder, kind) is int i and >= 0 ? i : KindOrder.Length;
}
