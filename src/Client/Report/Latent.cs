using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>One latent of <c>latents.json</c>: its index, why it was picked (sample, densest, rarest), density, peak activation and examples.</summary>
internal sealed record Latent(int Index, string? Kind, double? Density, double? MaxActivation, IReadOnlyList<LatentExample> Examples)
{
    /// <summary>Reads one latent; <c>index</c> must be there.</summary>
    public static Latent Read(JsonFields f) => new(
        f.RequiredInt("index"), f.String("kind"), f.Number("density"), f.Number("max_activation"),
        f.Objects("examples")?.Select(LatentExample.Read).ToArray() ?? []);
}
