namespace SaeCluster.Grains;

/// <summary>
/// Evaluates every SAE of one site of a sweep inside the model once the site's trainer has written them — delta LM
/// loss, CE loss score, KL, by position, top contexts (key <c>{sweep}/{layer}.{site}/eval</c>, placed where the model runs).
/// </summary>
public interface ISaeEvaluatorGrain : IWorkGrain<EvaluatorReport>;
