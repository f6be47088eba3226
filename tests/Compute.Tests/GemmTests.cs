using SaeCluster.Compute;

namespace SaeCluster.Compute.Tests;

/// <summary>
/// Sgemm / GemmBf16 against a double-precision reference, on every backend: oneDNN,
/// the managed Vector512 kernel and the managed Vector256 kernel. A missing oneDNN fails the oneDNN rows.
/// </summary>
public class GemmTests
{
    private const double Tolerance = 1e-4;

    public static readonly string[] Backends = ["onednn", "managed", "managed256"];

    // (m, n, k, pad): pad > 0 stores every operand as a sub-matrix view (ld = cols + pad, NaN in the gaps).
    private static readonly (int M, int N, int K, int Pad)[] Shapes =
    [
        (1, 1, 1, 0),
        (1, 7, 33, 3),
        (23, 50, 20, 2),     // ragged strips wider than 8 (overlapping 8×8 transposes in packing)
        (7, 33, 129, 0),
        (33, 7, 1, 5),
        (129, 65, 33, 1),
        (17, 65, 300, 2),    // k > KC: several depth blocks accumulate into C
        (100, 130, 81, 3),   // m·n·k ≥ 2^20: parallel path, several tiles, partial MR / NR strips
        (3, 4100, 5, 0),     // n > NC
        (4099, 3, 2, 1),     // m > MB
    ];

    public static IEnumerable<object[]> Cases()
    {
        foreach (string backend in Backends)
            foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                    for (int s = 0; s < Shapes.Length; s++)
                        yield return [backend, transA, transB, s];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Sgemm_MatchesReference(string backend, bool transA, bool transB, int shape)
    {
        using var scope = UseBackend(backend);
        var (m, n, k, pad) = Shapes[shape];
        var rng = new Random(shape * 31 + (transA ? 2 : 0) + (transB ? 1 : 0));

        // alpha/beta with a live C, then beta == 0 over a C full of NaN.
        foreach (var (alpha, beta) in new[] { (0.75f, -0.5f), (1f, 0f), (-2f, 1f) })
        {
            var op = Operands.Create(rng, transA, transB, m, n, k, pad, nanC: beta == 0);
            Gemm.Sgemm(transA, transB, m, n, k, alpha, op.ASpan, op.Lda, op.BSpan, op.Ldb, beta, op.CSpan, op.Ldc);
            op.Verify(alpha, beta, $"{backend} tA={transA} tB={transB} {m}x{n}x{k} pad={pad} alpha={alpha} beta={beta}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GemmBf16_MatchesReferenceOnRoundedInputs(string backend, bool transA, bool transB, int shape)
    {
        using var scope = UseBackend(backend);
        var (m, n, k, pad) = Shapes[shape];
        var rng = new Random(shape * 17 + (transA ? 2 : 0) + (transB ? 1 : 0));

        foreach (var (alpha, beta) in new[] { (0.75f, -0.5f), (1f, 0f) })
        {
            var op = Operands.Create(rng, transA, transB, m, n, k, pad, nanC: beta == 0);
            ushort[] a16 = ToBf16(op.A), b16 = ToBf16(op.B);
            op.RoundInputsToBf16(); // the reference sees exactly what the bf16 GEMM sees
            Gemm.GemmBf16(transA, transB, m, n, k, alpha,
                a16.AsSpan(op.AOffset, op.ASpan.Length), op.Lda, b16.AsSpan(op.BOffset, op.BSpan.Length), op.Ldb,
                beta, op.CSpan, op.Ldc);
            op.Verify(alpha, beta, $"bf16 {backend} tA={transA} tB={transB} {m}x{n}x{k} pad={pad} alpha={alpha} beta={beta}");
        }
    }

    public static IEnumerable<object[]> BackendCases() => Backends.Select(b => new object[] { b });

    [Theory]
    [MemberData(nameof(BackendCases))]
    public void KZero_ScalesC(string backend)
    {
        using var scope = UseBackend(backend);
        float[] c = [1, 2, 3, 4, 5, 6];
        Gemm.Sgemm(false, false, 2, 3, 0, 1f, [], 0, [], 3, 2f, c, 3);
        Assert.Equal(new float[] { 2, 4, 6, 8, 10, 12 }, c);

        float[] nan = Enumerable.Repeat(float.NaN, 6).ToArray();
        Gemm.Sgemm(true, true, 2, 3, 0, 1f, [], 2, [], 0, 0f, nan, 3);
        Assert.Equal(new float[6], nan);

        float[] c16 = [1, 2, 3, 4, 5, 6];
        Gemm.GemmBf16(false, false, 2, 3, 0, 1f, [], 0, [], 3, -1f, c16, 3);
        Assert.Equal(new float[] { -1, -2, -3, -4, -5, -6 }, c16);
    }

    [Theory]
    [MemberData(nameof(BackendCases))]
    public void AlphaZero_ScalesCWithoutReadingAB(string backend)
    {
        using var scope = UseBackend(backend);
        float[] a = [float.NaN, float.NaN], b = [float.NaN, float.NaN];
        float[] c = [1, 2, 3, 4];
        Gemm.Sgemm(false, false, 2, 2, 1, 0f, a, 1, b, 2, 0.5f, c, 2);
        Assert.Equal(new float[] { 0.5f, 1, 1.5f, 2 }, c);
    }

    [Theory]
    [MemberData(nameof(BackendCases))]
    public void EmptyOutput_IsNoOp(string backend)
    {
        using var scope = UseBackend(backend);
        float[] c = [7f];
        Gemm.Sgemm(false, false, 0, 5, 3, 1f, [], 3, new float[15], 5, 0f, [], 5);
        Gemm.Sgemm(false, false, 1, 0, 3, 1f, new float[3], 3, [], 0, 0f, c, 0);
        Gemm.GemmBf16(false, false, 0, 0, 0, 1f, [], 0, [], 0, 0f, [], 0);
        Assert.Equal(7f, c[0]);
    }

    [Fact]
    public void ShortSpans_ThrowNamingTheOperand()
    {
        float[] a = new float[6], b = new float[12], c = new float[8];
        // Sound call: A [2×3], B [3×4], C [2×4].
        Gemm.Sgemm(false, false, 2, 4, 3, 1f, a, 3, b, 4, 0f, c, 4);

        Assert.Equal("a", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 4, 3, 1f, a.AsSpan(0, 5), 3, b, 4, 0f, c, 4)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 4, 3, 1f, a, 3, b.AsSpan(0, 11), 4, 0f, c, 4)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 4, 3, 1f, a, 3, b, 4, 0f, c.AsSpan(0, 7), 4)).ParamName);
        Assert.Equal("lda", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 4, 3, 1f, a, 2, b, 4, 0f, c, 4)).ParamName);
        // Transposed A is stored [3×2] with lda ≥ 2; B transposed is stored [4×3].
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => Gemm.Sgemm(true, true, 2, 4, 3, 1f, a, 2, b, 4, 0f, c, 4)).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentException>(() =>
            Gemm.GemmBf16(false, false, 2, 4, 3, 1f, new ushort[5], 3, new ushort[12], 4, 0f, c, 4)).ParamName);
        Assert.ThrowsAny<ArgumentException>(() => Gemm.Sgemm(false, false, -1, 4, 3, 1f, a, 3, b, 4, 0f, c, 4));
    }

    [Fact]
    public void Backend_ReflectsSelection()
    {
        Assert.Contains(Gemm.Backend, new[] { "onednn", "managed" });
        Assert.Equal(Gemm.NativeAvailable, Gemm.Backend == "onednn");
        using (Gemm.Use(Gemm.Mode.Managed))
        {
            Assert.Equal("managed", Gemm.Backend);
            Assert.False(Gemm.HasFastBf16);
        }
    }

    [Theory]
    [MemberData(nameof(BackendCases))]
    public void MeasureGflops_IsPositive(string backend)
    {
        using var scope = UseBackend(backend);
        Assert.True(GemmPeak.MeasureGflops(64, 48, 32, bf16: false, repeats: 1) > 0);
        Assert.True(GemmPeak.MeasureGflops(33, 17, 9, bf16: true, repeats: 1) > 0);
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Selects <paramref name="backend"/>; "onednn" fails the test when libdnnl.so.2 cannot be loaded
    /// (Debian libdnnl2, installed by scripts/install-deps.sh, which the test command runs).</summary>
    private static Gemm.ModeScope UseBackend(string backend)
    {
        if (backend == "onednn" && !Gemm.NativeAvailable)
            Assert.Fail("oneDNN (libdnnl.so.2) cannot be loaded: install Debian's libdnnl2 (bash scripts/install-deps.sh; the test command does this)");
        return Gemm.Use(backend switch
        {
            "managed" => Gemm.Mode.Managed,
            "managed256" => Gemm.Mode.Managed256,
            _ => Gemm.Mode.Default,
        });
    }

    private static ushort[] ToBf16(float[] x)
    {
        var r = new ushort[x.Length];
        Bf16.FromSingle(x, r);
        return r;
    }

    /// <summary>Random operands stored with optional padding (NaN in the gaps) and a copy of the initial C.</summary>
    private sealed class Operands
    {
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc, AOffset, BOffset, COffset, ALength, BLength, CLength;
        public float[] A = [], B = [], C = [], C0 = [];

        public ReadOnlySpan<float> ASpan => A.AsSpan(AOffset, ALength);
        public ReadOnlySpan<float> BSpan => B.AsSpan(BOffset, BLength);
        public Span<float> CSpan => C.AsSpan(COffset, CLength);

        public static Operands Create(Random rng, bool transA, bool transB, int m, int n, int k, int pad, bool nanC)
        {
            var op = new Operands { TransA = transA, TransB = transB, M = m, N = n, K = k };
            int offset = pad > 0 ? 2 : 0;
            op.A = Matrix(rng, transA ? k : m, transA ? m : k, pad, offset, nan: false, out op.Lda, out op.ALength);
            op.B = Matrix(rng, transB ? n : k, transB ? k : n, pad, offset, nan: false, out op.Ldb, out op.BLength);
            op.C = Matrix(rng, m, n, pad, offset, nanC, out op.Ldc, out op.CLength);
            op.AOffset = op.BOffset = op.COffset = offset;
            op.C0 = (float[])op.C.Clone();
            return op;
        }

        // rows×cols at [offset + r·ld + c], ld = cols + pad; everything else is NaN.
        private static float[] Matrix(Random rng, int rows, int cols, int pad, int offset, bool nan, out int ld, out int length)
        {
            ld = cols + pad;
            length = rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
            var x = new float[offset + length + offset];
            x.AsSpan().Fill(float.NaN);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    x[offset + r * ld + c] = nan ? float.NaN : rng.NextSingle() * 2f - 1f;
            return x;
        }

        public void RoundInputsToBf16()
        {
            for (int i = 0; i < A.Length; i++) A[i] = Bf16.ToSingle(Bf16.FromSingle(A[i]));
            for (int i = 0; i < B.Length; i++) B[i] = Bf16.ToSingle(Bf16.FromSingle(B[i]));
        }

        /// <summary>|C − ref| ≤ 1e-4 · (|alpha|·Σ|a·b| + |beta·C0|) per element; gaps in C untouched.</summary>
        public void Verify(float alpha, float beta, string what)
        {
            // Dense double copies: opA [M×K] and op(B)ᵀ [N×K], so the reference dot products are contiguous.
            var opA = new double[M * K];
            var opBt = new double[N * K];
            for (int i = 0; i < M; i++)
                for (int p = 0; p < K; p++)
                    opA[i * K + p] = TransA ? A[AOffset + p * Lda + i] : A[AOffset + i * Lda + p];
            for (int j = 0; j < N; j++)
                for (int p = 0; p < K; p++)
                    opBt[j * K + p] = TransB ? B[BOffset + j * Ldb + p] : B[BOffset + p * Ldb + j];

            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    // Plain array indexing: this loop dominates the test time and runs unoptimized in Debug.
                    double dot = 0, abs = 0;
                    for (int p = 0, ia = i * K, jb = j * K; p < K; p++)
                    {
                        double t = opA[ia + p] * opBt[jb + p];
                        dot += t;
                        abs += t < 0 ? -t : t;
                    }
                    int ci = COffset + i * Ldc + j;
                    double c0 = beta == 0 ? 0 : beta * (double)C0[ci];
                    double expected = alpha * dot + c0;
                    double scale = Math.Abs(alpha) * abs + Math.Abs(c0);
                    double err = Math.Abs(C[ci] - expected);
                    if (!(err <= Tolerance * scale + 1e-30))
                        Assert.Fail($"{what}: C[{i},{j}] = {C[ci]}, expected {expected} (error {err:E2}, scale {scale:E2})");
                }
            }
            // Gaps between / around the rows of the C view must not be written.
            for (int x = 0; x < C.Length; x++)
            {
                int rel = x - COffset;
                bool inside = rel >= 0 && rel < CLength && rel % Ldc < N;
                if (!inside && BitConverter.SingleToInt32Bits(C[x]) != BitConverter.SingleToInt32Bits(C0[x]))
                    Assert.Fail($"{what}: element {x} outside the C view was modified");
            }
        }
    }
}
