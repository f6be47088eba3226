using SaeCluster.Models;

namespace SaeCluster.Sae;

/// <summary>Copies the activations of the wanted sites out of a clean forward pass.</summary>
internal sealed class CaptureHook(IReadOnlyCollection<(int Layer, HookSite Site)> sites) : IActivationHook
{
    public readonly Dictionary<(int, HookSite), float[]> Values = new();

    public bool Wants(int layer, HookSite site) => sites.Contains((layer, site));

    public void OnActivation(int layer, HookSite site, Span<float> values, int tokens, int width) => Values[(layer, site)] = values.ToArray();
}

/// <summary>
/// Overwrites one site in the forward pass, at the positions that count: with <paramref name="replacement"/>
/// [N, width] (an SAE's reconstruction), or with zeros when it is null (zero ablation). The rest keeps its clean value.
/// </summary>
internal sealed class SpliceHook(int layer, HookSite site, float[]? replacement, bool[] counted) : IActivationHook
{
    public bool Wants(int l, HookSite s) => l == layer && s == site;

    public void OnActivation(int l, HookSite s, Span<float> values, int tokens, int width)
    {
        for (int t = 0; t < tokens; t++)
        {
            if (!counted[t]) continue;
            var row = values.Slice(t * width, width);
            if (replacement == null) row.Clear();
            else replacement.AsSpan(t * width, width).CopyTo(row);
        }
    }
}
