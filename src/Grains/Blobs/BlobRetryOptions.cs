namespace SaeCluster.Grains;

/// <summary>
/// How a remote blob store retries: each attempt gets <see cref="AttemptTimeout"/> (for streamed downloads:
/// the longest wait for the next bytes); after a transient failure (HTTP 408, 429, 500, 502, 503, 504, a
/// connection error, a timeout) it waits <see cref="BaseDelay"/>·2^(attempt-1), capped at
/// <see cref="MaxDelay"/>, scaled by a random factor in [0.5, 1), then tries again, at most
/// <see cref="MaxAttempts"/> times in all.
/// </summary>
public sealed record BlobRetryOptions
{
    /// <summary>Attempts per operation, the first included (at least 1).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Limit on one attempt.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>Wait before the second attempt (before jitter).</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound of one wait.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> for values that cannot work.</summary>
    public void Validate()
    {
        if (MaxAttempts < 1) throw new ArgumentException($"BlobRetryOptions.MaxAttempts must be at least 1, not {MaxAttempts}");
        if (AttemptTimeout <= TimeSpan.Zero) throw new ArgumentException($"BlobRetryOptions.AttemptTimeout must be positive, not {AttemptTimeout}");
        if (BaseDelay < TimeSpan.Zero || MaxDelay < TimeSpan.Zero) throw new ArgumentException("BlobRetryOptions delays must not be negative");
    }

    /// <summary>The wait after failed attempt number <paramref name="attempt"/> (1-based), with jitter.</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        double exponential = BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        double capped = Math.Min(exponential, MaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + Random.Shared.NextDouble() * 0.5));
    }
}
