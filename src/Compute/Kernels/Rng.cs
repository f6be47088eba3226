namespace SaeCluster.Compute;

/// <summary>
/// SplitMix64: a small, fast, explicitly specified generator, so that every random choice in a run is a
/// pure function of (seed, purpose, index) — which is what makes resume bit-exact.
/// </summary>
public struct Rng(ulong seed)
{
    ulong _state = seed;

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A seed derived from a parent seed and any number of labels.</summary>
    public static ulong Derive(ulong seed, params ReadOnlySpan<ulong> labels)
    {
        ulong s = Mix(seed + 0x9E3779B97F4A7C15UL);
        foreach (ulong l in labels) s = Mix(s ^ (l + 0x9E3779B97F4A7C15UL));
        return s;
    }

    public ulong NextUInt64() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform in [0, 1).</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 32) * (ulong)n >> 32);

    /// <summary>Standard normal (Box–Muller).</summary>
    public float NextGaussian()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    /// <summary>Fills <paramref name="perm"/> with a uniformly random permutation of 0..n-1 (Fisher–Yates).</summary>
    public void Permutation(Span<int> perm)
    {
        for (int i = 0; i < perm.Length; i++) perm[i] = i;
        for (int i = perm.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
    }
}
