namespace SaeCluster.Grains;

/// <summary>
/// A claim on one actor: valid until <see cref="Expires"/> unless renewed. Every durable write carries
/// <see cref="Epoch"/>; the store refuses it once a newer claim exists (fencing).
/// </summary>
public readonly record struct ActorLease(string Key, string Kind, long Epoch, DateTimeOffset Expires, string State);
