namespace SaeCluster.Grains;

/// <summary>An evaluator's durable state: besides the work's status, each SAE's numbers once they are written next to it.</summary>
[GenerateSerializer]
public sealed class EvaluatorState : WorkState
{
    [Id(0)] public List<SaeModelEval> Results { get; set; } = [];
}
