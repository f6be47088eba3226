namespace SaeCluster.Grains;

/// <summary>Makes shards [index·n, (index+1)·n) of a sweep: one forward pass per batch writes every site's activations (key <c>{sweep}/{index:D5}</c>).</summary>
public interface IActivationProducerGrain : IWorkGrain<ProducerReport>;
