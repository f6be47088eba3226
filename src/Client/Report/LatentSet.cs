using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>An SAE's <c>latents.json</c> (written by <c>saectl eval</c>): chosen latents with their top-activating contexts.</summary>
internal sealed record LatentSet(int? Window, IReadOnlyList<Latent> Latents)
{
    /// <summary>File name inside an SAE folder.</summary>
    public const string FileName = "latents.json";

    /// <summary>Reads the file; <c>latents</c> must be there.</summary>
    public static LatentSet Read(JsonFields f) => new(
        f.Int("window"),
        (f.Objects("latents") ?? throw f.Problem("latents", "missing")).Select(Latent.Read).ToArray());
}
