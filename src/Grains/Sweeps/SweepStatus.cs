namespace SaeCluster.Grains;

/// <summary>
/// A sweep as the API and saectl show it: state (pending, running, done, failed, cancelled), producers,
/// and per trainer (one per layer × site) its progress and each SAE's latest numbers.
/// </summary>
public sealed record SweepStatus(string Id, string State, DateTimeOffset? Submitted, DateTimeOffset? Finished, string? Error,
    int Producers, int ProducersDone, long TokensProduced, long TokensToProduce, IReadOnlyList<TrainerStatus> Trainers)
{
    public bool IsTerminal => State is "done" or "failed" or "cancelled";
}

/// <summary>One trainer: its site, lifecycle state, phase (waiting, training, evaluating, writing, done), tokens and SAEs.</summary>
public sealed record TrainerStatus(string Site, string State, string Phase, long Tokens, long TotalTokens, double TokensPerSecond,
    string? Silo, IReadOnlyList<SaeStatus> Saes, string? Error);

/// <summary>One SAE's latest training numbers (or its final evaluation once done, with the blob folder it was written to).</summary>
public sealed record SaeStatus(string Name, double L0, double Fvu, double DeadFraction, double? Loss, string? Output);
