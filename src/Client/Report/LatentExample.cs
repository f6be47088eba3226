using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>One context window of a latent: decoded tokens with the latent's activation on each, and its peak.</summary>
internal sealed record LatentExample(string[] Tokens, double[] Activations, double Max)
{
    /// <summary>Reads one example; <c>tokens</c> and <c>activations</c> must be there and of one length.</summary>
    public static LatentExample Read(JsonFields f)
    {
        var tokens = f.Strings("tokens") ?? throw f.Problem("tokens", "missing");
        var acts = f.Numbers("activations") ?? throw f.Problem("activations", "missing");
        if (acts.Length != tokens.Length) throw f.Problem("activations", $"{acts.Length} values for {tokens.Length} tokens");
        return new LatentExample(tokens, acts, f.Number("max") ?? (acts.Length > 0 ? acts.Max() : 0));
    }
}
