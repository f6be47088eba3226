namespace SaeCluster.Sae;

/// <summary>
/// The top-activating contexts of every latent, kept while the evaluation streams by: per latent a min-heap of its
/// <see cref="EvalOptions.ExamplesPerLatent"/> largest activations, each with the window of tokens ending a few past
/// the peak and that latent's activation on each of them (what Neuronpedia shows).
/// </summary>
public sealed class LatentExamples
{
    public sealed record Example(float Max, int[] Tokens, float[] Activations, int MaxAt);

    readonly int _keep, _window;
    readonly PriorityQueue<Example, float>[] _heaps;

    public LatentExamples(int dSae, int keep, int window)
    {
        _keep = keep; _window = window;
        _heaps = new PriorityQueue<Example, float>[dSae];
        for (int j = 0; j < dSae; j++) _heaps[j] = new PriorityQueue<Example, float>(keep + 1);
    }

    /// <summary>
    /// Offers the codes [rows·T, d_sae] of a batch of contexts <paramref name="ids"/> [rows·T]; <paramref name="counted"/>
    /// marks the positions that may be examples (not BOS/EOS/pad unless those are included).
    /// </summary>
    public void Offer(float[] codes, int[] ids, int T, bool[] counted)
    {
        int dSae = _heaps.Length, n = ids.Length, after = Math.Min(4, _window / 4);
        Parallel.For(0, dSae, j =>
        {
            var heap = _heaps[j];
            for (int t = 0; t < n; t++)
            {
                if (!counted[t]) continue;
                float a = codes[(long)t * dSae + j];
                if (a <= 0 || (heap.Count == _keep && heap.TryPeek(out _, out float min) && a <= min)) continue;
                int row = t / T, p = t % T;
                int end = Math.Min(T, p + 1 + after), start = Math.Max(0, end - _window);
                var tokens = ids.AsSpan(row * T + start, end - start).ToArray();
                var acts = new float[end - start];
                for (int i = 0; i < acts.Length; i++) acts[i] = counted[row * T + start + i] ? codes[(long)(row * T + start + i) * dSae + j] : 0f;
                heap.Enqueue(new Example(a, tokens, acts, p - start), a);
                if (heap.Count > _keep) heap.Dequeue();
            }
        });
    }

    /// <summary>The examples of latent <paramref name="j"/>, largest first.</summary>
    public Example[] Of(int j) => _heaps[j].UnorderedItems.Select(e => e.Element).OrderByDescending(e => e.Max).ToArray();
}
