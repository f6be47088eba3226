namespace SaeCluster.Grains;

/// <summary>An actor cannot succeed however often it is retried (bad input, diverged training): the runtime marks it Failed.</summary>
public sealed class ActorFailedException(string message, Exception? inner = null) : Exception(message, inner);
