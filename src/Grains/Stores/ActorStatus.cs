namespace SaeCluster.Grains;

/// <summary>Lifecycle of an actor row. Pending and Running actors are claimable once their lease lapses.</summary>
public enum ActorStatus { Pending = 0, Running = 1, Done = 2, Failed = 3, Cancelled = 4 }
