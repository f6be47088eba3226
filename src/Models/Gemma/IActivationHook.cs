namespace SaeCluster.Models;

/// <summary>
/// Receives activations during a forward pass. <see cref="OnActivation"/> gets the activation of one
/// site for every token of the batch, [tokens, width], and may overwrite it in place: the forward then
/// continues from the replacement (a splice, e.g. an SAE reconstruction for delta-LM-loss).
/// </summary>
public interface IActivationHook
{
    /// <summary>Whether (layer, site) is wanted; sites nobody wants are not reported.</summary>
    bool Wants(int layer, HookSite site);

    void OnActivation(int layer, HookSite site, Span<float> values, int tokens, int width);
}
