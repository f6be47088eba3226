namespace SaeCluster.Grains;

/// <summary>What a running trainer shows in /metrics: its site, phase and tokens, and each SAE's latest step numbers.</summary>
public sealed class TrainerTelemetry(string sweep, int layer, string site)
{
    public string Sweep { get; } = sweep;
    public int Layer { get; } = layer;
    public string Site { get; } = site;
    public volatile string Phase = "starting";
    public long Step, Tokens;
    public SaeTelemetry[] Saes = [];
}

/// <summary>One SAE's latest training-step numbers.</summary>
public sealed class SaeTelemetry(string name)
{
    public string Name { get; } = name;
    public double L0 = double.NaN, Fvu = double.NaN, DeadFraction = double.NaN, Loss = double.NaN, LearningRate = double.NaN;
}

/// <summary>What an evaluation in the model shows in /metrics once done: each SAE's delta LM loss, CE loss score and KL.</summary>
public sealed class EvaluationTelemetry(string sweep, int layer, string site, IReadOnlyList<SaeModelEval> results)
{
    public string Sweep { get; } = sweep;
    public int Layer { get; } = layer;
    public string Site { get; } = site;
    public IReadOnlyList<SaeModelEval> Results { get; } = results;
}

/// <summary>What a sweep's coordinator shows in /metrics: its state, progress and how many actors of each kind are in each state.</summary>
public sealed class SweepTelemetry(string sweep)
{
    public string Sweep { get; } = sweep;
    public volatile string State = "running";
    public double Progress;
    public volatile IReadOnlyDictionary<(string Kind, string State), int> Actors = new Dictionary<(string, string), int>();
}
