namespace SaeCluster.Grains;

/// <summary>Trains every SAE of a sweep on one site in one pass over its shards (key <c>{sweep}/{layer}.{site}</c>).</summary>
public interface ISaeTrainerGrain : IWorkGrain<TrainerReport>;
