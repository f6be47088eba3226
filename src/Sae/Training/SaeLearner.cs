using System.Numerics.Tensors;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// One SAE being trained: its parameters, optimiser state and firing statistics, and the training step.
/// The step is sparse-aware: only the encoder forward is a dense GEMM; decode, the decoder gradient and
/// the encoder gradient visit active (latent, token) pairs only, grouped by latent so each thread owns
/// whole parameter rows. No input gradient is ever formed.
/// </summary>
public sealed class SaeLearner
{
    public SaeConfig Config { get; }
    /// <summary>Peak learning rate: the configured one, or the family's default for this d_in.</summary>
    public float LearningRate { get; }
    public SparseAutoencoder Sae { get; }
    /// <summary>Tokens seen when each latent last fired (dead-latent tracking).</summary>
    public long[] LastFired { get; }
    /// <summary>BatchTopK inference threshold (EMA of the smallest kept activation); &lt; 0 until estimated.</summary>
    public float BatchThreshold { get; set; } = -1f;
    public long Step { get; set; }
    /// <summary>When set, each phase of <see cref="TrainStep"/> is timed into it.</summary>
    public StepProfile? Profile { get; set; }

    readonly int _dIn, _width;
    readonly float[] _theta;       // JumpReLU θ = exp(log θ) [n]
    readonly float[] _dpreSum;     // Σ_b dz_bj [n]
    readonly float[] _latentTerm;  // per-latent sparsity-loss terms [n]
    readonly float[] _decoderNorm; // ‖W_dec,j‖ (dense ReLU steps) [n]
    readonly int[] _dead;          // dead latent ids
    readonly int[] _deadPos;       // latent id → position in _dead (valid for dead latents)

    public SaeLearner(SaeConfig config, int dIn, ulong seed)
    {
        Config = config;
        _dIn = dIn; _width = config.Width;
        LearningRate = config.LearningRateFor(dIn);
        Sae = new SparseAutoencoder(dIn, config.Width, config.Architecture == SaeArchitecture.JumpRelu);
        Sae.Initialize(seed, config.Architecture == SaeArchitecture.Relu ? 0.1f : 1f, config.ThresholdInit);
        LastFired = new long[_width];
        _theta = new float[_width];
        _dpreSum = new float[_width];
        _latentTerm = new float[_width];
        _decoderNorm = new float[_width];
        _dead = new int[_width];
        _deadPos = new int[_width];
    }

    /// <summary>b_dec := the geometric median of the batch (Weiszfeld), as dictionary_learning initialises TopK SAEs.</summary>
    public void InitializeDecoderBias(ReadOnlySpan<float> x, int rows)
    {
        var median = Sae.DecoderBias.Value;
        Reductions.ColumnSum(x, rows, _dIn, median);
        TensorPrimitives.Multiply(median, 1f / rows, median);
        var next = new double[_dIn];
        for (int it = 0; it < 50; it++)
        {
            Array.Clear(next);
            double wsum = 0;
            for (int b = 0; b < rows; b++)
            {
                var row = x.Slice(b * _dIn, _dIn);
                double dist = TensorPrimitives.Distance(row, median);
                double w = 1 / Math.Max(dist, 1e-8);
                wsum += w;
                for (int i = 0; i < _dIn; i++) next[i] += w * row[i];
            }
            float shift = 0;
            for (int i = 0; i < _dIn; i++) { float v = (float)(next[i] / wsum); shift = MathF.Max(shift, MathF.Abs(v - median[i])); median[i] = v; }
            if (shift < 1e-6f) break;
        }
    }

    /// <summary>
    /// Whether this SAE's GEMMs run in bf16: when asked, or under Auto where this machine runs bf16 GEMMs faster
    /// (<see cref="Bf16Choice"/>) — except for JumpReLU (<see cref="SaeConfig.AutoAllowsBf16"/>).
    /// </summary>
    public bool UsesBf16(EncoderPrecision p) => p == EncoderPrecision.BFloat16
        || (p == EncoderPrecision.Auto && Config.AutoAllowsBf16 && Bf16Choice.Preferred);



    /// <summary>pre := (x − b_dec) · W_encᵀᵀ (no bias yet). x: [rows, d_in].</summary>
    void EncodeDense(float[] x, int rows, StepWorkspace ws, EncoderPrecision precision)
    {
        int d = _dIn, n = _width;
        float[] bDec = Sae.DecoderBias.Value, xc = ws.Xc;
        Parallel.For(0, rows, b => TensorPrimitives.Subtract(x.AsSpan(b * d, d), bDec, xc.AsSpan(b * d, d)));
        if (UsesBf16(precision))
        {
            Compute.Bf16.FromSingle(xc.AsSpan(0, rows * d), ws.XcBf16);
            Compute.Bf16.FromSingle(Sae.EncoderT.Value, ws.WBf16.AsSpan(0, n * d));
            Profile?.Mark("center + bf16 copies");
            Gemm.GemmBf16(false, true, rows, n, d, 1f, ws.XcBf16, d, ws.WBf16, d, 0f, ws.Pre, n);
        }
        else
        {
            Profile?.Mark("center + bf16 copies");
            Gemm.Sgemm(false, true, rows, n, d, 1f, xc, d, Sae.EncoderT.Value, d, 0f, ws.Pre, n);
        }
        Profile?.Mark("encoder GEMM");
    }

    void RefreshTheta()
    {
        if (Sae.LogThreshold != null) TensorPrimitives.Exp(Sae.LogThreshold.Value, _theta);
    }

    /// <summary>
    /// x̂_b = b_dec·bias + Σ_j f_bj W_dec[j], into <paramref name="dst"/> [rows, d]; with <paramref name="wBf16"/>
    /// the decoder rows are read from that bf16 copy of W_dec (half the bytes of the rows it gathers).
    /// </summary>
    void Decode(SparseCodes codes, int rows, float[] dst, bool withBias, ushort[]? wBf16 = null)
    {
        int d = _dIn;
        float[] w = Sae.Decoder.Value, bDec = Sae.DecoderBias.Value;
        Parallel.For(0, rows, b =>
        {
            var xh = dst.AsSpan(b * d, d);
            if (withBias) bDec.CopyTo(xh); else xh.Clear();
            var cols = codes.RowCols(b); var vals = codes.RowVals(b);
            if (wBf16 != null)
                for (int i = 0; i < cols.Length; i++)
                {
                    if (i + 1 < cols.Length) Prefetch.Row(wBf16.AsSpan(cols[i + 1] * d, d));
                    Compute.Bf16.MultiplyAdd(wBf16.AsSpan(cols[i] * d, d), vals[i], xh);
                }
            else
                for (int i = 0; i < cols.Length; i++)
                {
                    if (i + 1 < cols.Length) Prefetch.Row(w.AsSpan(cols[i + 1] * d, d));
                    TensorPrimitives.MultiplyAdd(w.AsSpan(cols[i] * d, d), vals[i], xh, xh);
                }
        });
    }

    /// <summary>
    /// One training step on the normalised batch <paramref name="x"/> [B, d_in]. <paramref name="rowVar"/>[b] =
    /// ‖x_b − mean(x)‖² (for FVU); <paramref name="tokensBefore"/> = tokens trained on before this batch.
    /// </summary>
    public StepMetrics TrainStep(float[] x, float[] rowVar, double totalVar, StepWorkspace ws, long totalSteps,
        long tokensBefore, long deadTokens, EncoderPrecision precision)
    {
        Profile?.Start();
        float lr = Schedule.LearningRate(Config, LearningRate, Step, totalSteps);
        float lambda = Schedule.SparsityCoefficient(Config, Step, totalSteps);
        var m = ComputeGradients(x, totalVar, ws, lambda, tokensBefore, deadTokens, precision, out float kth);
        ApplyUpdate(lr);
        RecordFiring(ws, tokensBefore + ws.Batch, kth, totalSteps);
        Step++;
        int deadAfter = CollectDead(tokensBefore + ws.Batch, deadTokens);
        Profile?.Mark("firing statistics");
        return m with { DeadFraction = (float)deadAfter / _width, LearningRate = lr };
    }

    /// <summary>
    /// Forward and backward on one batch: fills every parameter's Grad (decoder-row gradients already
    /// projected for unit-norm families) and returns the loss terms. <paramref name="kth"/> is BatchTopK's
    /// smallest kept activation. Changes no parameter.
    /// </summary>
    internal StepMetrics ComputeGradients(float[] x, double totalVar, StepWorkspace ws, float lambda,
        long tokensBefore, long deadTokens, EncoderPrecision precision, out float kth)
    {
        int B = ws.Batch, d = _dIn, n = _width;
        var c = Config;
        bool bf16 = UsesBf16(precision);
        RefreshTheta();

        // ---- forward: dense encoder, sparse code selection ------------------------------------
        EncodeDense(x, B, ws, precision);
        float smallestKept = 0;
        SparseCodes? near = null;
        switch (c.Architecture)
        {
            case SaeArchitecture.TopK: CodeSelection.TopK(ws.Pre, B, n, Sae.EncoderBias.Value, c.K, ws.Main); break;
            case SaeArchitecture.BatchTopK: smallestKept = CodeSelection.BatchTopK(ws.Pre, B, n, Sae.EncoderBias.Value, c.K, ws.Main, ws.RowCounts); break;
            case SaeArchitecture.Relu: CodeSelection.Relu(ws.Pre, B, n, Sae.EncoderBias.Value, ws.Main, ws.RowCounts); break;
            case SaeArchitecture.JumpRelu:
                near = ws.Near;
                CodeSelection.JumpRelu(ws.Pre, B, n, Sae.EncoderBias.Value, _theta, ws.Main, ws.RowCounts, near, ws.RowCounts2, c.Bandwidth / 2);
                break;
        }
        Profile?.Mark("code selection");

        // ---- reconstruction: x̂ = f·W_dec + b_dec; G_b = dL/dx̂_b = (2/B)(x̂_b − x_b) -------------
        // ReLU and JumpReLU codes start out dense (half the latents fire at initialisation): above a few
        // per cent density the GEMM formulation beats per-entry work, so those steps go dense.
        bool dense = c.Architecture is SaeArchitecture.Relu or SaeArchitecture.JumpRelu && ws.Main.Nnz > DenseCodeFraction * B * n;
        if (dense) DecodeDense(ws, bf16);
        else if (bf16)
        {
            // the encoder's bf16 copy of W_encᵀ is no longer needed: the scratch takes W_dec's for the decode
            Compute.Bf16.FromSingle(Sae.Decoder.Value, ws.WBf16.AsSpan(0, n * d));
            Decode(ws.Main, B, ws.XHat, withBias: true, ws.WBf16);
        }
        else Decode(ws.Main, B, ws.XHat, withBias: true);
        Profile?.Mark("decode");
        float gScale = 2f / B;
        Parallel.For(0, B, b =>
        {
            var g = ws.G.AsSpan(b * d, d);
            TensorPrimitives.Subtract(ws.XHat.AsSpan(b * d, d), x.AsSpan(b * d, d), g);
            ws.RowSqErr[b] = TensorPrimitives.SumOfSquares(g);
            TensorPrimitives.Multiply(g, gScale, g);
        });
        double sqErr = Reductions.Sum(ws.RowSqErr.AsSpan(0, B));
        Profile?.Mark("residual");

        // ---- AuxK: reconstruct the residual with the top dead latents ----------------------------
        float auxLoss = 0;
        SparseCodes? aux = null;
        int deadCount = CollectDead(tokensBefore, deadTokens);
        if (c.Architecture is SaeArchitecture.TopK or SaeArchitecture.BatchTopK && c.AuxKCoefficient > 0 && deadCount > 0)
            auxLoss = AuxK(ws, deadCount, bf16, out aux);
        Profile?.Mark("AuxK forward");

        // ---- backward, latent-major --------------------------------------------------------------
        float lossScale = lambda / B;
        if (dense) BackwardDense(ws, lossScale, bf16);
        ws.Entries.Build(n, dense ? null : ws.Main, _auxDense ? null : aux, B, near);
        Profile?.Mark("backward: entries by latent");
        bool auxRowsLater = aux != null && _auxDense;
        bool bf16Rows = bf16 && !dense;
        if (bf16Rows) Compute.Bf16.FromSingle(ws.G.AsSpan(0, (aux != null && !_auxDense ? 2 : 1) * B * d), ws.GRowsBf16);
        BackwardByLatent(ws, lossScale, denseDone: dense, project: c.KeepsUnitNormDecoder, skipDeadOf: auxRowsLater ? deadCount : 0, bf16Rows);
        Profile?.Mark("backward: latent-major");
        if (auxRowsLater) AuxKDenseBackward(ws, deadCount, bf16, project: c.KeepsUnitNormDecoder);
        Profile?.Mark("backward: AuxK GEMMs");

        // b_dec: decoder bias gradient Σ_b G_b, minus the encoder-input path Σ_j (Σ_b dz_bj) W_encᵀ[j]
        var gbDec = Sae.DecoderBias.Grad;
        Reductions.ColumnSum(ws.G, B, d, gbDec);
        Gemm.Sgemm(false, false, 1, d, n, -1f, _dpreSum, n, Sae.EncoderT.Value, d, 1f, gbDec, d);
        Profile?.Mark("b_dec gradient");

        kth = smallestKept;
        float l0 = (float)ws.Main.Nnz / B;
        double rec = sqErr / B;
        double sparsity = c.Architecture switch
        {
            SaeArchitecture.Relu => Reductions.Sum(_latentTerm.AsSpan(0, n)) * lossScale,
            SaeArchitecture.JumpRelu => (double)lambda * ws.Main.Nnz / B,
            _ => 0,
        };
        return new StepMetrics(rec + sparsity + c.AuxKCoefficient * auxLoss, (float)rec, (float)sparsity, auxLoss, l0,
            (float)(sqErr / Math.Max(totalVar, 1e-30)), 0, 0);
    }

    /// <summary>One Adam step on every parameter; unit-norm decoder rows are renormalised in the same pass where the family keeps them.</summary>
    internal void ApplyUpdate(float lr)
    {
        var c = Config;
        long t = Step + 1;
        foreach (var p in Sae.Parameters)
        {
            if (p == Sae.Decoder && c.KeepsUnitNormDecoder) Adam.UpdateUnitRows(p, _dIn, lr, c.Beta1, c.Beta2, c.Epsilon, t);
            else Adam.Update(p, lr, c.Beta1, c.Beta2, c.Epsilon, t);
        }
        Profile?.Mark("Adam");
    }

    // Firing statistics after a step; BatchTopK's inference threshold follows the smallest kept activation.
    void RecordFiring(StepWorkspace ws, long tokensAfter, float kth, long totalSteps)
    {
        var c = Config;
        for (int b = 0; b < ws.Batch; b++)
            foreach (int j in ws.Main.RowCols(b)) LastFired[j] = tokensAfter;
        if (c.Architecture == SaeArchitecture.BatchTopK && Step >= Math.Min(c.ThresholdStartStep, totalSteps / 2) && kth > 0)
            BatchThreshold = BatchThreshold < 0 ? kth : c.ThresholdBeta * BatchThreshold + (1 - c.ThresholdBeta) * kth;
    }

    // The dead latents at tokensNow into _dead[0..count) (and their positions in _deadPos); returns count.
    int CollectDead(long tokensNow, long deadTokens)
    {
        int count = 0;
        if (tokensNow >= deadTokens)
            for (int j = 0; j < _width; j++)
                if (tokensNow - LastFired[j] >= deadTokens) { _deadPos[j] = count; _dead[count++] = j; }
        return count;
    }

    // Fills G rows B..2B with dL/dê for the AuxK loss; returns the (normalised) aux loss.
    float AuxK(StepWorkspace ws, int deadCount, bool bf16, out SparseCodes? aux)
    {
        int B = ws.Batch, d = _dIn;
        aux = ws.Aux;
        _auxDense = false;
        CodeSelection.TopKAmong(ws.Pre, B, _width, _dead, deadCount, Config.EffectiveAuxK(d), ws.Aux);
        if (ws.Aux.Nnz == 0) { aux = null; return 0; }
        // residual r_b = x_b − x̂_b = −(B/2)·G_b, kept in G's aux half for now
        var gAux = ws.G.AsSpan(B * d, B * d);
        float back = -B / 2f;
        Parallel.For(0, B, b => TensorPrimitives.Multiply(ws.G.AsSpan(b * d, d), back, ws.G.AsSpan((B + b) * d, d)));
        var mean = ws.ColBuffer;
        Reductions.ColumnSum(gAux, B, d, mean);
        TensorPrimitives.Multiply(mean, 1f / B, mean);
        Parallel.For(0, B, b => ws.RowAux[b] = Reductions.SquaredDistance(ws.G.AsSpan((B + b) * d, d), mean));
        double denom = Reductions.Sum(ws.RowAux.AsSpan(0, B)) / B;
        if (!(denom > 0)) { aux = null; return 0; }
        // k_aux of m dead latents per token: past a few per cent, GEMMs over the gathered dead rows win
        _auxDense = ws.Aux.Nnz > DenseCodeFraction * B * deadCount;
        if (_auxDense) AuxKDenseDecode(ws, deadCount, bf16);
        else Decode(ws.Aux, B, ws.XHat, withBias: false); // ê
        float scale = (float)(-2.0 * Config.AuxKCoefficient / (B * denom));
        Parallel.For(0, B, b =>
        {
            var r = ws.G.AsSpan((B + b) * d, d);
            TensorPrimitives.Subtract(r, ws.XHat.AsSpan(b * d, d), r);  // r − ê
            ws.RowAux[b] = TensorPrimitives.SumOfSquares(r);
            TensorPrimitives.Multiply(r, scale, r);                     // dL/dê
        });
        return (float)(Reductions.Sum(ws.RowAux.AsSpan(0, B)) / B / denom);
    }

    // Gradients of W_dec, W_encᵀ, b_enc (and log θ) — one latent per iteration, rows owned by one thread.
    // With denseDone the active-entry gradients are already in place (BackwardDense); only JumpReLU's
    // near-threshold entries remain. With project, each decoder-row gradient loses its component along the
    // row while both are in cache — except the rows of _dead[0..skipDeadOf) (AuxK's dense backward adds to
    // them later and projects them itself). With bf16Rows the token rows (G, x_c) are read from their bf16 copies: the
    // loop streams two rows per entry from memory, and bf16 halves those bytes (gradients accumulate in fp32).
    void BackwardByLatent(StepWorkspace ws, float lossScale, bool denseDone, bool project, int skipDeadOf, bool bf16Rows)
    {
        int d = _dIn, B = ws.Batch;
        var e = ws.Entries;
        var c = Config;
        bool relu = c.Architecture == SaeArchitecture.Relu, jump = c.Architecture == SaeArchitecture.JumpRelu;
        float invEps = 1f / c.Bandwidth;
        float[] w = Sae.Decoder.Value, gw = Sae.Decoder.Grad, ge = Sae.EncoderT.Grad, gb = Sae.EncoderBias.Grad;
        float[]? gth = Sae.LogThreshold?.Grad;
        float[] g = ws.G, xc = ws.Xc;
        ushort[] gb16 = bf16Rows ? ws.GRowsBf16 : [], xcb16 = bf16Rows ? ws.XcBf16 : [];
        const int LatentsPerTask = 32;
        Parallel.For(0, (_width + LatentsPerTask - 1) / LatentsPerTask, task =>
        {
            int hi = Math.Min(_width, (task + 1) * LatentsPerTask);
            for (int j = task * LatentsPerTask; j < hi; j++)
            {
                var wj = w.AsSpan(j * d, d);
                var gwj = gw.AsSpan(j * d, d);
                var gej = ge.AsSpan(j * d, d);
                if (!denseDone) { gwj.Clear(); gej.Clear(); }
                float norm = relu ? MathF.Sqrt(TensorPrimitives.SumOfSquares(wj)) : 0f;
                float l1Slope = lossScale * norm;
                float dzSum = 0, fSum = 0, dTheta = 0, theta = jump ? _theta[j] : 0f;
                for (int p = e.ColStart[j], end = e.ColStart[j + 1]; p < end; p++)
                {
                    if (p + 1 < end)
                    {
                        // the next entry's token rows, while this one's are in use
                        if (bf16Rows) { Prefetch.Row(gb16.AsSpan(e.GRow[p + 1] * d, d)); Prefetch.Row(xcb16.AsSpan(e.Token[p + 1] * d, d)); }
                        else { Prefetch.Row(g.AsSpan(e.GRow[p + 1] * d, d)); Prefetch.Row(xc.AsSpan(e.Token[p + 1] * d, d)); }
                    }
                    var gRow = g.AsSpan(e.GRow[p] * d, d);
                    var gRowBf16 = bf16Rows ? gb16.AsSpan(e.GRow[p] * d, d) : default;
                    float df = bf16Rows ? Compute.Bf16.Dot(gRowBf16, wj) : TensorPrimitives.Dot(gRow, wj); // dL/df_bj
                    if (e.Kind[p] == LatentMajorEntries.Active)
                    {
                        float f = e.Value[p];
                        // dL/dW_dec[j] += f_bj · G_b
                        if (bf16Rows) Compute.Bf16.MultiplyAdd(gRowBf16, f, gwj); else TensorPrimitives.MultiplyAdd(gRow, f, gwj, gwj);
                        bool main = e.GRow[p] < B;
                        float dz = df + (relu && main ? l1Slope : 0f);    // df/dz = 1 on the active set
                        if (bf16Rows) Compute.Bf16.MultiplyAdd(xcb16.AsSpan(e.Token[p] * d, d), dz, gej);
                        else TensorPrimitives.MultiplyAdd(xc.AsSpan(e.Token[p] * d, d), dz, gej, gej);
                        dzSum += dz;
                        if (main) fSum += f;
                    }
                    else // JumpReLU straight-through: ∂f/∂θ = −(θ/ε)·K, ∂H/∂θ = −(1/ε)·K (rectangle K)
                        dTheta += -(theta * invEps) * df - lossScale * invEps;
                }
                if (!denseDone)
                {
                    gb[j] = dzSum;
                    _dpreSum[j] = dzSum;
                }
                if (relu && !denseDone)
                {
                    // λ Σ_b f_bj ‖W_dec,j‖ → ∂/∂W_dec,j = λ/B · (Σ_b f_bj) · W_dec,j / ‖W_dec,j‖
                    _latentTerm[j] = fSum * norm;
                    if (norm > 0) TensorPrimitives.MultiplyAdd(wj, lossScale * fSum / norm, gwj, gwj);
                }
                if (gth != null) gth[j] = dTheta * theta;             // d/d(log θ) = θ · d/dθ
                if (project && !IsDead(j, skipDeadOf)) ProjectRow(wj, gwj);
            }
        });
    }

    // latent j is in _dead[0..count) as the step's CollectDead left it (_deadPos is stale for live latents)
    bool IsDead(int j, int count) => _deadPos[j] < count && _dead[_deadPos[j]] == j;

    // g −= (g·w) w: the gradient of a unit-norm row, tangent to the sphere.
    static void ProjectRow(ReadOnlySpan<float> w, Span<float> g) => TensorPrimitives.MultiplyAdd(w, -TensorPrimitives.Dot(g, w), g, g);

    bool _auxDense;

    // C = op(A)·op(B) in fp32, or in bf16 with the operands converted into the given scratch.
    // (aReady/bReady: the scratch already holds that operand in bf16.)
    static void Mul(bool bf16, bool tA, bool tB, int m, int n, int k, float[] a, int aLen, int lda, float[] b, int bLen, int ldb,
        float[] c, int ldc, ushort[] aScratch, ushort[] bScratch, bool aReady = false, bool bReady = false)
    {
        if (!bf16) { Gemm.Sgemm(tA, tB, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc); return; }
        if (!aReady) Compute.Bf16.FromSingle(a.AsSpan(0, aLen), aScratch);
        if (!bReady) Compute.Bf16.FromSingle(b.AsSpan(0, bLen), bScratch);
        Gemm.GemmBf16(tA, tB, m, n, k, 1f, aScratch, lda, bScratch, ldb, 0f, c, ldc);
    }

    // Dense AuxK forward over the m dead latents D: A [B, m] (in ws.Pre: z is no longer needed once codes
    // are selected), W_D = W_dec[D] gathered [m, d], ê = A·W_D into ws.XHat.
    void AuxKDenseDecode(StepWorkspace ws, int m, bool bf16)
    {
        int B = ws.Batch, d = _dIn;
        float[] a = ws.Pre, wd = ws.AuxRows, w = Sae.Decoder.Value;
        Array.Clear(a, 0, B * m);
        Parallel.For(0, B, b =>
        {
            var cols = ws.Aux.RowCols(b); var vals = ws.Aux.RowVals(b);
            for (int i = 0; i < cols.Length; i++) a[b * m + _deadPos[cols[i]]] = vals[i];
        });
        Parallel.For(0, m, i => w.AsSpan(_dead[i] * d, d).CopyTo(wd.AsSpan(i * d, d)));
        Mul(bf16, false, false, B, d, m, a, B * m, m, wd, m * d, d, ws.XHat, d, ws.CodeBf16, ws.WBf16);
    }

    // Dense AuxK backward with G_aux = dL/dê (rows B..2B of ws.G): dA = G_aux·W_Dᵀ on the active entries,
    // ∂W_D = Aᵀ·G_aux, ∂W_encᵀ[D] = dAᵀ·x_c, ∂b_enc[D] = Σ_b dA; scattered back onto the dead rows.
    void AuxKDenseBackward(StepWorkspace ws, int m, bool bf16, bool project)
    {
        int B = ws.Batch, d = _dIn;
        float[] a = ws.Pre, da = ws.CodeGrad, wd = ws.AuxRows, gD = ws.AuxGradDecoder, gE = ws.AuxGradEncoder;
        var gAux = ws.AuxGrad; // G_aux rows copied out contiguously (GEMM operand)
        Array.Copy(ws.G, B * d, gAux, 0, B * d);
        // the scratch still holds W_D (WBf16) and A (CodeBf16) in bf16 from the forward
        Mul(bf16, false, true, B, m, d, gAux, B * d, d, wd, m * d, d, da, m, ws.GBf16, ws.WBf16, bReady: true);
        Parallel.For(0, B, b => Elementwise.KeepWherePositive(a.AsSpan(b * m, m), da.AsSpan(b * m, m)));
        Mul(bf16, true, false, m, d, B, a, B * m, m, gAux, B * d, d, gD, d, ws.CodeBf16, ws.GBf16, aReady: true, bReady: true);
        Mul(bf16, true, false, m, d, B, da, B * m, m, ws.Xc, B * d, d, gE, d, ws.CodeBf16, ws.XcBf16, bReady: true);
        var colSum = ws.LatentBuffer;
        Reductions.ColumnSum(da, B, m, colSum);
        float[] gw = Sae.Decoder.Grad, ge = Sae.EncoderT.Grad, gb = Sae.EncoderBias.Grad;
        Parallel.For(0, m, i =>
        {
            int j = _dead[i];
            TensorPrimitives.Add(gw.AsSpan(j * d, d), gD.AsSpan(i * d, d), gw.AsSpan(j * d, d));
            TensorPrimitives.Add(ge.AsSpan(j * d, d), gE.AsSpan(i * d, d), ge.AsSpan(j * d, d));
            gb[j] += colSum[i];
            _dpreSum[j] += colSum[i];
            if (project) ProjectRow(Sae.Decoder.Value.AsSpan(j * d, d), gw.AsSpan(j * d, d));
        });
    }

    /// <summary>Density of the code above which ReLU/JumpReLU steps use dense GEMMs (internal for tests).</summary>
    internal double DenseCodeFraction { get; set; } = 0.03;

    // F := the code as a dense [B, n] matrix, in place of z (f = z where active, else 0); x̂ = F·W_dec + b_dec.
    // (bf16: leaves F in ws.CodeBf16 and W_dec in ws.WBf16 for the backward.)
    void DecodeDense(StepWorkspace ws, bool bf16)
    {
        int B = ws.Batch, d = _dIn, n = _width;
        float[] f = ws.Pre, bDec = Sae.DecoderBias.Value;
        bool jump = Config.Architecture == SaeArchitecture.JumpRelu;
        Parallel.For(0, B, b =>
        {
            var row = f.AsSpan(b * n, n);
            if (jump)
                for (int j = 0; j < n; j++) { if (!(row[j] > _theta[j])) row[j] = 0; }
            else TensorPrimitives.Max(row, 0f, row);
        });
        Mul(bf16, false, false, B, d, n, f, B * n, n, Sae.Decoder.Value, n * d, d, ws.XHat, d, ws.CodeBf16, ws.WBf16);
        Parallel.For(0, B, b => TensorPrimitives.Add(ws.XHat.AsSpan(b * d, d), bDec, ws.XHat.AsSpan(b * d, d)));
    }

    // Dense backward for dense codes F (in ws.Pre): dz = (G·W_decᵀ + L1 slope) ⊙ [f > 0];
    // ∂W_dec = Fᵀ·G, ∂W_encᵀ = dzᵀ·x_c, ∂b_enc = Σ_b dz.
    void BackwardDense(StepWorkspace ws, float lossScale, bool bf16)
    {
        int B = ws.Batch, d = _dIn, n = _width;
        float[] f = ws.Pre, dz = ws.CodeGrad, w = Sae.Decoder.Value;
        bool relu = Config.Architecture == SaeArchitecture.Relu;
        var slope = _latentTerm; // λ/B·‖W_dec,j‖ for ReLU, 0 otherwise
        var norm = _decoderNorm;
        Array.Clear(slope);
        if (relu) Parallel.For(0, n, j => { norm[j] = TensorPrimitives.Norm(w.AsSpan(j * d, d)); slope[j] = lossScale * norm[j]; });
        Mul(bf16, false, true, B, n, d, ws.G, B * d, d, w, n * d, d, dz, n, ws.GBf16, ws.WBf16, bReady: true);
        Parallel.For(0, B, b =>
        {
            var fr = f.AsSpan(b * n, n); var gr = dz.AsSpan(b * n, n);
            for (int j = 0; j < n; j++) gr[j] = fr[j] > 0 ? gr[j] + slope[j] : 0f;
        });
        Mul(bf16, true, false, n, d, B, f, B * n, n, ws.G, B * d, d, Sae.Decoder.Grad, d, ws.CodeBf16, ws.GBf16, aReady: true, bReady: true);
        Mul(bf16, true, false, n, d, B, dz, B * n, n, ws.Xc, B * d, d, Sae.EncoderT.Grad, d, ws.CodeBf16, ws.XcBf16, bReady: true);
        Reductions.ColumnSum(dz, B, n, Sae.EncoderBias.Grad);
        Sae.EncoderBias.Grad.AsSpan(0, n).CopyTo(_dpreSum);
        if (relu)
        {
            // λ Σ_b f_bj ‖W_dec,j‖: ∂/∂W_dec,j = λ/B · (Σ_b f_bj) · W_dec,j / ‖W_dec,j‖; keep Σ_b f_bj ‖W_dec,j‖ for the loss
            var fSum = ws.LatentBuffer;
            Reductions.ColumnSum(f, B, n, fSum);
            Parallel.For(0, n, j =>
            {
                if (norm[j] > 0) TensorPrimitives.MultiplyAdd(w.AsSpan(j * d, d), lossScale * fSum[j] / norm[j], Sae.Decoder.Grad.AsSpan(j * d, d), Sae.Decoder.Grad.AsSpan(j * d, d));
                slope[j] = fSum[j] * norm[j];
            });
        }
    }

    /// <summary>
    /// Inference forward for evaluation: codes by the architecture's inference rule (BatchTopK uses its
    /// learned threshold), x̂ into ws.XHat, per-row squared error into ws.RowSqErr. Adds firing counts.
    /// </summary>
    public long Evaluate(float[] x, int rows, StepWorkspace ws, EncoderPrecision precision, long[] firing)
    {
        int n = _width;
        RefreshTheta();
        EncodeDense(x, rows, ws, precision);
        var bEnc = Sae.EncoderBias.Value;
        switch (Config.Architecture)
        {
            case SaeArchitecture.TopK: CodeSelection.TopK(ws.Pre, rows, n, bEnc, Config.K, ws.Main); break;
            case SaeArchitecture.Relu: CodeSelection.Relu(ws.Pre, rows, n, bEnc, ws.Main, ws.RowCounts); break;
            case SaeArchitecture.JumpRelu:
                CodeSelection.JumpRelu(ws.Pre, rows, n, bEnc, _theta, ws.Main, ws.RowCounts, null, ws.RowCounts2, 0); break;
            case SaeArchitecture.BatchTopK:
                if (BatchThreshold > 0)
                {
                    CodeSelection.AddBias(ws.Pre, rows, n, bEnc);
                    CodeSelection.SharedThreshold(ws.Pre, rows, n, BatchThreshold, ws.Main, ws.RowCounts);
                }
                else CodeSelection.BatchTopK(ws.Pre, rows, n, bEnc, Config.K, ws.Main, ws.RowCounts);
                break;
        }
        Decode(ws.Main, rows, ws.XHat, withBias: true);
        int d = _dIn;
        Parallel.For(0, rows, b => ws.RowSqErr[b] = Reductions.SquaredDistance(ws.XHat.AsSpan(b * d, d), x.AsSpan(b * d, d)));
        long nnz = 0;
        for (int b = 0; b < rows; b++)
            foreach (int j in ws.Main.RowCols(b)) { firing[j]++; nnz++; }
        return nnz;
    }
}
