using System.Diagnostics;
using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// Trains every SAE of a <see cref="TrainingConfig"/> over one stream of batches: each batch is read and
/// normalised once, then each SAE takes its step on it (sharing one workspace). Checkpoints capture the
/// whole run (weights, Adam moments, firing statistics, step); data order and every random choice are
/// functions of (seed, step), so a resumed run finishes with the same weights as an uninterrupted one.
/// </summary>
public sealed class MultiSaeTrainer : IDisposable
{
    public TrainingConfig Config { get; }
    public IActivationSource Source { get; }
    public IReadOnlyList<SaeLearner> Learners { get; }
    /// <summary>Inputs are multiplied by this before training (E‖s·x‖² = 1); folded back on save.</summary>
    public float NormScale { get; private set; } = 1f;
    public long Step { get; private set; }
    public long TokensTrained => Step * Config.BatchSize;
    /// <summary>Wall-clock seconds spent in training steps (accumulated across resumes).</summary>
    public double TrainSeconds { get; private set; }
    public StepWorkspace Workspace { get; }
    readonly float[] _x, _rowVar, _mean;

    public MultiSaeTrainer(TrainingConfig config, IActivationSource source)
    {
        Config = config;
        Source = source;
        int d = source.DIn;
        Learners = config.Saes.Select((c, i) => new SaeLearner(c, d, Rng.Derive(config.Seed, 0x5AE, (ulong)i))).ToArray();
        Workspace = new StepWorkspace(config.BatchSize, d, config.Saes.Max(s => s.Width), Learners.Any(l => l.UsesBf16(config.Precision)));
        _x = GC.AllocateArray<float>(config.BatchSize * d, pinned: true);
        _rowVar = new float[config.BatchSize];
        _mean = new float[d];
    }

    /// <summary>
    /// Fresh start: the normalisation scale (from the data's metadata, else estimated on the first batches)
    /// and b_dec initialisation for the families that start from the geometric median.
    /// </summary>
    public void Initialize()
    {
        int B = Config.BatchSize, d = Source.DIn;
        NormScale = 1f;
        if (Config.Normalize)
        {
            if (Source.NormScale is float s) NormScale = s;
            else
            {
                // E‖x‖² over the first batches of the stream (up to ~64k tokens)
                int batches = (int)Math.Clamp(65_536 / B, 1, Math.Max(1, Config.TotalSteps));
                double sumSq = 0;
                for (int i = 0; i < batches; i++)
                {
                    Source.ReadBatch(i, B, _x);
                    sumSq += SumOfSquares(_x);
                }
                double meanSq = sumSq / ((double)batches * B);
                NormScale = meanSq > 0 ? (float)(1 / Math.Sqrt(meanSq)) : 1f;
            }
        }
        ReadNormalized(0);
        foreach (var l in Learners)
            if (l.Config.Architecture is SaeArchitecture.TopK or SaeArchitecture.BatchTopK)
                l.InitializeDecoderBias(_x, B);
        Step = 0;
        TrainSeconds = 0;
    }

    static double SumOfSquares(float[] x)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i += 1 << 16) s += TensorPrimitives.SumOfSquares(x.AsSpan(i, Math.Min(1 << 16, x.Length - i)));
        return s;
    }

    void ReadNormalized(long step)
    {
        Source.ReadBatch(step, Config.BatchSize, _x);
        if (NormScale != 1f) TensorPrimitives.Multiply(_x, NormScale, _x);
    }

    /// <summary>
    /// Trains until the token budget is spent or <paramref name="ct"/> fires. Reports progress every
    /// LogEvery steps and calls <paramref name="checkpoint"/> every CheckpointEvery steps.
    /// </summary>
    public void Run(CancellationToken ct, Action<TrainingProgress>? progress = null, Action<MultiSaeTrainer>? checkpoint = null)
    {
        long total = Config.TotalSteps;
        int B = Config.BatchSize, d = Source.DIn;
        var metrics = new StepMetrics[Learners.Count];
        var sw = Stopwatch.StartNew();
        double startSeconds = TrainSeconds;
        long startStep = Step;
        while (Step < total)
        {
            ct.ThrowIfCancellationRequested();
            ReadNormalized(Step);
            double totalVar = BatchVariance();
            long tokensBefore = Step * B;
            for (int i = 0; i < Learners.Count; i++)
                metrics[i] = Learners[i].TrainStep(_x, _rowVar, totalVar, Workspace, total, tokensBefore, Config.DeadTokens, Config.Precision);
            foreach (var (m, l) in metrics.Zip(Learners))
                if (!double.IsFinite(m.Loss))
                    throw new TrainingDivergedException(l.Config.Name, Step, m.Loss);
            Step++;
            TrainSeconds = startSeconds + sw.Elapsed.TotalSeconds;
            if (progress != null && (Step % Config.LogEvery == 0 || Step == total))
                progress(new TrainingProgress(Step, total, Step * B, (Step - startStep) * B / Math.Max(1e-9, sw.Elapsed.TotalSeconds),
                    Learners.Select((l, i) => (l.Config.Name, metrics[i])).ToArray()));
            if (checkpoint != null && Config.CheckpointEvery > 0 && Step % Config.CheckpointEvery == 0 && Step < total)
                checkpoint(this);
        }
    }

    /// <summary>
    /// Evaluates every SAE with its inference rule on <c>EvalTokens</c> tokens that follow the training
    /// stream: L0, FVU, latents that never fired, and each latent's firing frequency.
    /// </summary>
    public IReadOnlyList<SaeEvaluation> Evaluate(CancellationToken ct = default)
    {
        int B = Config.BatchSize, d = Source.DIn;
        long batches = Math.Max(1, Config.EvalTokens / B);
        var firing = Learners.Select(l => new long[l.Config.Width]).ToArray();
        var sqErr = new double[Learners.Count];
        var nnz = new long[Learners.Count];
        double var = 0;
        for (long i = 0; i < batches; i++)
        {
            ct.ThrowIfCancellationRequested();
            ReadNormalized(Config.TotalSteps + i);
            var += BatchVariance();
            for (int s = 0; s < Learners.Count; s++)
            {
                nnz[s] += Learners[s].Evaluate(_x, B, Workspace, Config.Precision, firing[s]);
                sqErr[s] += Reductions.Sum(Workspace.RowSqErr.AsSpan(0, B));
            }
        }
        long tokens = batches * B;
        return Learners.Select((l, s) => new SaeEvaluation(
            L0: (double)nnz[s] / tokens,
            Fvu: sqErr[s] / Math.Max(var, 1e-30),
            Mse: sqErr[s] / tokens,
            DeadFraction: (double)firing[s].Count(c => c == 0) / l.Config.Width,
            Tokens: tokens,
            FiringCounts: firing[s])).ToArray();
    }

    // Per-row ‖x_b − mean(x)‖² into _rowVar (the FVU denominator); returns the sum.
    double BatchVariance()
    {
        int B = Config.BatchSize, d = Source.DIn;
        Reductions.ColumnSum(_x, B, d, _mean);
        TensorPrimitives.Multiply(_mean, 1f / B, _mean);
        Parallel.For(0, B, b => _rowVar[b] = Reductions.SquaredDistance(_x.AsSpan(b * d, d), _mean));
        return Reductions.Sum(_rowVar);
    }

    public void RestoreStep(long step, double trainSeconds, float normScale)
    {
        Step = step;
        TrainSeconds = trainSeconds;
        NormScale = normScale;
    }

    public void Dispose() => Source.Dispose();
}
