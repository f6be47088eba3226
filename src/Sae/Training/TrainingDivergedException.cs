namespace SaeCluster.Sae;

/// <summary>A loss became NaN or infinite: the run stops rather than write garbage.</summary>
public sealed class TrainingDivergedException(string sae, long step, double loss)
    : Exception($"SAE '{sae}' diverged at step {step} (loss = {loss}); lower its lr or check the data")
{
    public string Sae { get; } = sae;
    public double Loss { get; } = loss;
}
