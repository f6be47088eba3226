namespace SaeCluster.Sae;

/// <summary>
/// Fraction of variance unexplained pooled over tokens: Σ‖x − x̂‖² / Σ‖x − x̄‖², with x̄ the mean over the same tokens,
/// from running sums (Σ‖x − x̂‖², Σ‖x‖², Σx) so it can be accumulated batch by batch.
/// </summary>
public static class PooledFvu
{
    public static double From(double sqErr, double sumSq, ReadOnlySpan<double> sumX, long tokens)
    {
        if (tokens == 0) return double.NaN;
        double meanSq = 0;
        foreach (double s in sumX) meanSq += s * s;
        double total = sumSq - meanSq / tokens; // Σ‖x‖² − N‖x̄‖²
        return total > 0 ? sqErr / total : double.NaN;
    }

    /// <summary>Of <paramref name="rows"/> inputs <paramref name="x"/> [rows, d] and their reconstructions <paramref name="xhat"/>.</summary>
    public static double Of(ReadOnlySpan<float> x, ReadOnlySpan<float> xhat, int rows, int d)
    {
        var sumX = new double[d];
        double sqErr = 0, sumSq = 0;
        for (long at = 0; at < (long)rows * d; at++)
        {
            double v = x[(int)at], e = v - xhat[(int)at];
            sqErr += e * e; sumSq += v * v; sumX[at % d] += v;
        }
        return From(sqErr, sumSq, sumX, rows);
    }
}
