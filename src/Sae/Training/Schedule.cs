namespace SaeCluster.Sae;

/// <summary>Learning-rate and sparsity-coefficient schedules, as pure functions of the step.</summary>
public static class Schedule
{
    /// <summary>
    /// lr at <paramref name="step"/> (0-based) of <paramref name="totalSteps"/> for a peak of <paramref name="peak"/>
    /// (<see cref="SaeConfig.LearningRateFor"/>): cosine warm-up from 0.1·peak over min(warm-up, 10% of the run)
    /// steps, constant, then linear decay to 0 over the final fraction.
    /// </summary>
    public static float LearningRate(SaeConfig c, float peak, long step, long totalSteps)
    {
        double lr = peak;
        long warm = Math.Min(c.WarmupSteps, totalSteps / 10);
        if (step < warm) lr *= 0.1 + 0.9 * (1 - Math.Cos(Math.PI * step / warm)) / 2;
        long decaySteps = (long)(totalSteps * (double)c.DecayFraction);
        long decayStart = totalSteps - decaySteps;
        if (decaySteps > 0 && step >= decayStart) lr *= (double)(totalSteps - step) / (decaySteps + 1);
        return (float)lr;
    }

    /// <summary>λ at <paramref name="step"/>: linear warm-up from 0 over the family's warm-up steps.</summary>
    public static float SparsityCoefficient(SaeConfig c, long step, long totalSteps)
    {
        float lambda = c.Architecture switch
        {
            SaeArchitecture.Relu => c.L1Coefficient,
            SaeArchitecture.JumpRelu => c.L0Coefficient,
            _ => 0f,
        };
        int warm = c.EffectiveSparsityWarmup(totalSteps);
        return warm > 0 && step < warm ? lambda * (step + 1) / warm : lambda;
    }
}
