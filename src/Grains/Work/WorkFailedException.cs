namespace SaeCluster.Grains;

/// <summary>Work that cannot succeed however often it is retried (bad input, diverged training): it ends Failed with this message.</summary>
public sealed class WorkFailedException(string message, Exception? inner = null) : Exception(message, inner);
