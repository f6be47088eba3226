using System.Diagnostics;

namespace SaeCluster.Sae;

/// <summary>
/// Where a training step's time goes: a learner given one marks the end of each phase of its step
/// (<see cref="Mark"/>), and the time since the previous mark is added to that phase's total.
/// For <c>saectl bench step --profile</c>; a learner without one pays nothing.
/// </summary>
public sealed class StepProfile
{
    readonly Dictionary<string, double> _ms = [];
    readonly List<string> _order = [];
    long _last;
    public int Steps { get; private set; }

    /// <summary>Starts timing a step.</summary>
    public void Start() { _last = Stopwatch.GetTimestamp(); Steps++; }

    /// <summary>Ends phase <paramref name="phase"/>: the time since the last mark is added to it.</summary>
    public void Mark(string phase)
    {
        long now = Stopwatch.GetTimestamp();
        if (!_ms.TryGetValue(phase, out double t)) _order.Add(phase);
        _ms[phase] = t + Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds;
        _last = now;
    }

    /// <summary>Mean milliseconds per step of each phase, in the order the phases first ran.</summary>
    public IReadOnlyList<(string Phase, double Ms)> PerStep() => _order.Select(p => (p, _ms[p] / Math.Max(1, Steps))).ToArray();

    public void Clear() { _ms.Clear(); _order.Clear(); Steps = 0; }
}
