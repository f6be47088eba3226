using System.Text.RegularExpressions;

namespace SaeCluster.Client.Report;

/// <summary>
/// Where an SAE reads the model: a layer and a site kind (<c>res</c>, <c>mlp</c>, <c>att</c>, <c>attn_out</c>),
/// shown as <c>"{layer}.{site}"</c>, or <c>unknown</c>. Sites sort by layer, then in that order of kinds.
/// </summary>
internal sealed partial record SiteLabel(int? Layer, string? Kind) : IComparable<SiteLabel>
{
    static readonly string[] KindOrder = ["res", "mlp", "att", "attn_out"];

    /// <summary>The label sections and the table show.</summary>
    public string Label => Layer is int l && Kind != null ? $"{l}.{Kind}" : "unknown";

    /// <summary>The site of an SAE from its cfg.json: <c>saecluster.layer</c> + <c>saecluster.site</c>, else the hook name.</summary>
    public static SiteLabel From(int? layer, string? site, string? hookName)
    {
        if (layer != null && !string.IsNullOrEmpty(site)) return new SiteLabel(layer, site);
        if (hookName != null && HookPattern().Match(hookName) is { Success: true } m)
        {
            string? kind = m.Groups[2].Value switch
            {
                "hook_resid_post" => "res",
                "hook_mlp_out" => "mlp",
                "attn.hook_z" => "att",
                "hook_attn_out" => "attn_out",
                _ => null,
            };
            if (kind != null) return new SiteLabel(int.Parse(m.Groups[1].Value), kind);
        }
        return new SiteLabel(null, null);
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

    [GeneratedRegex(@"^blocks\.(\d+)\.(.+)$")]
    private static partial Regex HookPattern();
}
