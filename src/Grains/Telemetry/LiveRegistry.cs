using System.Collections.Concurrent;

namespace SaeCluster.Grains;

/// <summary>
/// The live things an observable gauge reports on (running trainers, sweeps, silos): registered while they
/// run, and on a terminal end kept a while longer (<c>linger</c>) so a scrape still sees their final values.
/// </summary>
public sealed class LiveRegistry<T> where T : class
{
    readonly ConcurrentDictionary<T, DateTime> _items = new(ReferenceEqualityComparer.Instance);

    public T Add(T item)
    {
        _items[item] = DateTime.MaxValue;
        return item;
    }

    /// <summary>Stops reporting <paramref name="item"/> after <paramref name="linger"/> (at once when zero).</summary>
    public void Remove(T item, TimeSpan linger)
    {
        if (linger <= TimeSpan.Zero) _items.TryRemove(item, out _);
        else _items[item] = DateTime.UtcNow + linger;
    }

    /// <summary>What is reported now (lingering items past their time are dropped).</summary>
    public IEnumerable<T> Items
    {
        get
        {
            var now = DateTime.UtcNow;
            foreach (var (item, until) in _items)
            {
                if (until <= now) _items.TryRemove(item, out _);
                else yield return item;
            }
        }
    }
}
