using SaeCluster.Compute;

namespace SaeCluster.Compute.Tests;

public class TopKTests
{
    static float[] Random(int n, ulong seed, float positiveShare = 0.5f)
    {
        var rng = new Rng(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextGaussian() + (positiveShare - 0.5f) * 2;
        return x;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(16, 5)]
    [InlineData(17, 16)]
    [InlineData(1000, 64)]
    [InlineData(16384, 64)]
    [InlineData(16384, 16)]
    [InlineData(16390, 64)]   // a tail after the last whole vector
    [InlineData(65536, 256)]
    [InlineData(333, 333)]
    public void RowTopKMatchesSort(int n, int k)
    {
        var x = Random(n, (ulong)(n * 31 + k));
        var idx = new int[k]; var val = new float[k];
        int c = TopK.RowTopKPositive(x, k, idx, val);
        var expected = x.Select((v, i) => (v, i)).Where(p => p.v > 0).OrderByDescending(p => p.v).Take(k).ToArray();
        Assert.Equal(expected.Length, c);
        Assert.Equal(expected.Select(p => p.i).Order(), idx.Take(c).Order());
        for (int i = 0; i < c; i++) Assert.Equal(x[idx[i]], val[i]);
    }

    [Theory]
    [InlineData(1000, 200)]
    [InlineData(8192, 1152)]
    [InlineData(300, 299)]
    [InlineData(300, 1000)]
    public void SelectionTopKMatchesHeapTopK(int n, int k)
    {
        var x = Random(n, (ulong)(n + k), positiveShare: 0.4f);
        x[3] = x[7] = x[11] = 0.75f; // ties
        int kk = Math.Min(k, n);
        var (i1, v1, i2, v2) = (new int[kk], new float[kk], new int[kk], new float[kk]);
        int c1 = TopK.RowTopKPositive(x, kk, i1, v1);
        int c2 = TopK.RowTopKPositiveBySelection(x, kk, i2, v2, new float[n]);
        Assert.Equal(c1, c2);
        Assert.Equal(v1.Take(c1).Order(), v2.Take(c2).Order());
        foreach (int j in i2.Take(c2)) Assert.True(x[j] > 0);
    }

    /// <summary>The bounded path on rows where few values are positive, or many tie at the k-th value.</summary>
    [Theory]
    [InlineData(0.02f)]
    [InlineData(0.001f)]
    public void RowTopKWithFewPositivesOrTiesKeepsTheKLargest(float positiveShare)
    {
        const int n = 16384, k = 64;
        var rng = new Rng(9);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextDouble() < positiveShare ? 1f + rng.NextFloat() : -rng.NextFloat();
        for (int i = 0; i < n; i += 97) x[i] = 1.5f; // ties across blocks
        var idx = new int[k]; var val = new float[k];
        int c = TopK.RowTopKPositive(x, k, idx, val);
        var expected = x.Where(v => v > 0).OrderDescending().Take(k).ToArray();
        Assert.Equal(expected.Length, c);
        Assert.Equal(expected.Order(), val.Take(c).Order());
        for (int i = 0; i < c; i++) Assert.Equal(x[idx[i]], val[i]);
        Assert.Equal(c, idx.Take(c).Distinct().Count());
    }

    [Fact]
    public void RowTopKOfAllNegativeIsEmpty()
    {
        var x = Enumerable.Range(0, 100).Select(i => -1f - i).ToArray();
        Assert.Equal(0, TopK.RowTopKPositive(x, 10, new int[10], new float[10]));
    }

    [Theory]
    [InlineData(1000, 1)]
    [InlineData(1000, 37)]
    [InlineData(200_000, 5000)]
    [InlineData(1 << 20, 1 << 14)]
    public void KthLargestMatchesSort(int n, long kth)
    {
        var x = Random(n, (ulong)n + (ulong)kth);
        var sorted = x.Where(v => v > 0).OrderDescending().ToArray();
        Assert.Equal(sorted[kth - 1], TopK.KthLargestPositive(x, kth));
    }

    [Fact]
    public void KthLargestBeyondPositivesGivesSmallestPositive()
    {
        float[] x = [-1, 3, 0, 2, -5, 1];
        Assert.Equal(1f, TopK.KthLargestPositive(x, 10));
        Assert.Equal(float.PositiveInfinity, TopK.KthLargestPositive([-1f, 0f], 1));
    }

    [Fact]
    public void KthLargestWithManyTies()
    {
        var x = Enumerable.Repeat(0.5f, 10_000).Concat(Enumerable.Repeat(2f, 10)).ToArray();
        Assert.Equal(2f, TopK.KthLargestPositive(x, 10));
        Assert.Equal(0.5f, TopK.KthLargestPositive(x, 11));
        Assert.Equal(0.5f, TopK.KthLargestPositive(x, 5000));
    }
}
