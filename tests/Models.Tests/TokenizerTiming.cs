namespace SaeCluster.Models.Tests;

/// <summary>Tokens produced and the seconds spent producing them (single thread).</summary>
public sealed record TokenizerTiming(long Tokens, double Seconds)
{
    public double TokensPerSecond => Tokens / Seconds;

    public override string ToString() => $"{Tokens:N0} tokens in {Seconds:F3} s = {TokensPerSecond:N0} tokens/s";
}
