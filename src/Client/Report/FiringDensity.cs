using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>
/// A histogram of latents by log10 firing density (the fraction of tokens a latent fires on) plus the count of
/// dead latents, from <c>eval.json</c>'s <c>firing_density_histogram</c> or, before an evaluation, from the
/// training-time <c>sparsity.safetensors</c>.
/// </summary>
internal sealed record FiringDensity(double[] EdgesLog10, double[] Counts, long Dead, string Source)
{
    /// <summary>A log10 density at or below this is a latent that never fired (SAELens writes log10(0 + 1e-10)).</summary>
    const float DeadLog10 = -9.99f;

    /// <summary>Reads <c>eval.json</c>'s histogram: <c>edges_log10</c> (n + 1 ascending edges), <c>counts</c> (n), <c>dead</c>.</summary>
    public static FiringDensity Read(JsonFields f)
    {
        var edges = f.Numbers("edges_log10") ?? throw f.Problem("edges_log10", "missing");
        var counts = f.Numbers("counts") ?? throw f.Problem("counts", "missing");
        if (edges.Length < 2) throw f.Problem("edges_log10", $"needs at least 2 edges, has {edges.Length}");
        if (counts.Length != edges.Length - 1) throw f.Problem("counts", $"{edges.Length} edges need {edges.Length - 1} counts, found {counts.Length}");
        for (int i = 1; i < edges.Length; i++)
            if (edges[i] <= edges[i - 1]) throw f.Problem("edges_log10", $"edges must ascend: [{i - 1}] = {edges[i - 1]}, [{i}] = {edges[i]}");
        return new FiringDensity(edges, counts, f.Long("dead") ?? 0, "eval.json");
    }

    /// <summary>
    /// Bins SAELens' per-latent log10 firing densities into half-decade bins from 10⁻⁸ to 1 (densities below 10⁻⁸ in
    /// the first bin); latents that never fired count as dead.
    /// </summary>
    public static FiringDensity FromLog10(float[] log10Density, string source)
    {
        const double lo = -8, step = 0.5;
        int bins = (int)(-lo / step);
        var edges = Enumerable.Range(0, bins + 1).Select(i => lo + i * step).ToArray();
        var counts = new double[bins];
        long dead = 0;
        foreach (float v in log10Density)
        {
            if (v <= DeadLog10) { dead++; continue; }
            counts[Math.Clamp((int)Math.Floor((v - lo) / step), 0, bins - 1)]++;
        }
        return new FiringDensity(edges, counts, dead, source);
    }
}
