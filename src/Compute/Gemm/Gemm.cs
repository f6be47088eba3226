using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SaeCluster.Compute;

/// <summary>
/// Row-major GEMM: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C.
/// op(A) is A ([m,k], lda ≥ k) or Aᵀ (A stored [k,m], lda ≥ m); likewise for B.
/// Backend: oneDNN (libdnnl.so.2, plain C gemm API) when it can be loaded, else a packed,
/// cache-blocked managed SIMD GEMM (SAECLUSTER_GEMM=managed forces the latter).
/// beta == 0 never reads C (NaN garbage in C is ignored), as in BLAS.
/// </summary>
public static unsafe class Gemm
{
    /// <summary>Name of the backend in use ("onednn" or "managed").</summary>
    public static string Backend => UseNative ? "onednn" : "managed";

    /// <summary>True when bf16 GEMM runs natively (oneDNN: AVX512-BF16 / AMX); false when it is converted to f32 and run by the managed sgemm.
    /// Native is not always faster than fp32: <see cref="Bf16Choice"/> decides what auto precision uses.</summary>
    public static bool HasFastBf16 => UseNative && Native.GemmBf16 != null;

    /// <summary>f32 GEMM. Throws <see cref="ArgumentException"/> (naming the operand) when a span is shorter than its
    /// dimensions and leading dimension imply; k == 0 or alpha == 0 reduce to C = beta · C.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        long start = GemmMetrics.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        SgemmCore(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (start != 0) GemmMetrics.Record(0, m, n, k, start);
    }

    private static void SgemmCore(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        CheckArguments(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, ldc); return; }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            if (UseNative)
            {
                int status = Native.Sgemm(Trans(transA), Trans(transB), m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
                if (status != 0) ThrowStatus("dnnl_sgemm", status, transA, transB, m, n, k, lda, ldb, ldc);
            }
            else
            {
                ManagedSgemm(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, UseVector512);
            }
        }
    }

    /// <summary>bf16 × bf16 → f32 (AMX through oneDNN where available).</summary>
    public static void GemmBf16(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<ushort> a, int lda, ReadOnlySpan<ushort> b, int ldb, float beta, Span<float> c, int ldc)
    {
        long start = GemmMetrics.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        GemmBf16Core(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (start != 0) GemmMetrics.Record(1, m, n, k, start);
    }

    private static void GemmBf16Core(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<ushort> a, int lda, ReadOnlySpan<ushort> b, int ldb, float beta, Span<float> c, int ldc)
    {
        CheckArguments(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) { ScaleC(m, n, beta, c, ldc); return; }

        if (HasFastBf16)
        {
            fixed (ushort* pa = a)
            fixed (ushort* pb = b)
            fixed (float* pc = c)
            {
                int status = Native.GemmBf16(Trans(transA), Trans(transB), m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
                if (status != 0) ThrowStatus("dnnl_gemm_bf16bf16f32", status, transA, transB, m, n, k, lda, ldb, ldc);
            }
            return;
        }

        // Managed: widen the stored A [ra×ca] and B [rb×cb] to dense f32 (ld = columns), then sgemm.
        int ra = transA ? k : m, ca = transA ? m : k;
        int rb = transB ? n : k, cb = transB ? k : n;
        float[] fa = ArrayPool<float>.Shared.Rent(ra * ca);
        float[] fb = ArrayPool<float>.Shared.Rent(rb * cb);
        try
        {
            WidenBf16(a, lda, ra, ca, fa);
            WidenBf16(b, ldb, rb, cb, fb);
            fixed (float* pa = fa)
            fixed (float* pb = fb)
            fixed (float* pc = c)
                ManagedSgemm(transA, transB, m, n, k, alpha, pa, ca, pb, cb, beta, pc, ldc, UseVector512);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(fa);
            ArrayPool<float>.Shared.Return(fb);
        }
    }

    private static void WidenBf16(ReadOnlySpan<ushort> src, int ld, int rows, int cols, Span<float> dst)
    {
        if (ld == cols)
        {
            Bf16.ToSingle(src.Slice(0, rows * cols), dst);
            return;
        }
        for (int r = 0; r < rows; r++)
            Bf16.ToSingle(src.Slice(r * ld, cols), dst.Slice(r * cols, cols));
    }

    // ------------------------------------------------------------------ arguments

    private static void CheckArguments(bool transA, bool transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        // Stored shapes: A is [m×k] or [k×m] (transA), B is [k×n] or [n×k] (transB), C is [m×n].
        CheckOperand("a", "lda", transA ? k : m, transA ? m : k, aLength, lda);
        CheckOperand("b", "ldb", transB ? n : k, transB ? k : n, bLength, ldb);
        CheckOperand("c", "ldc", m, n, cLength, ldc);
    }

    private static void CheckOperand(string name, string ldName, int rows, int cols, int length, int ld)
    {
        if (ld < cols || ld < 0)
            throw new ArgumentException(
                $"Leading dimension {ldName}={ld} of operand '{name}' is smaller than its row length {cols}.", ldName);
        if (rows == 0 || cols == 0) return;
        long need = (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException(
                $"Operand '{name}' has {length} elements but a {rows}×{cols} matrix with {ldName}={ld} needs {need}.", name);
    }

    // C = beta · C (beta == 0 clears, ignoring NaN garbage): the k == 0 / alpha == 0 case.
    private static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        if (beta == 1) return;
        for (int i = 0; i < m; i++)
        {
            Span<float> row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear();
            else System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    private static byte Trans(bool t) => t ? (byte)'T' : (byte)'N';

    private static void ThrowStatus(string function, int status, bool transA, bool transB, int m, int n, int k, int lda, int ldb, int ldc)
    {
        string name = status switch
        {
            1 => "out_of_memory",
            2 => "invalid_arguments",
            3 => "unimplemented",
            5 => "runtime_error",
            _ => "unknown",
        };
        throw new InvalidOperationException(
            $"oneDNN {function} failed with status {status} ({name}) for transA={(char)Trans(transA)} transB={(char)Trans(transB)} " +
            $"m={m} n={n} k={k} lda={lda} ldb={ldb} ldc={ldc}.");
    }

    // ------------------------------------------------------------------ backend selection

    /// <summary>Backend override for the calling thread (tests run every case on every backend).</summary>
    internal enum Mode { Default, Managed, Managed256 }

    [ThreadStatic] private static Mode t_mode;

    /// <summary>True when oneDNN was loaded (and SAECLUSTER_GEMM=managed is not set).</summary>
    internal static bool NativeAvailable => Native.Sgemm != null;

    internal static bool UseNative
    {
        get
        {
            if (t_mode != Mode.Default) return false;
            if (Native.Sgemm != null) return true;
            Native.ReportFallback();
            return false;
        }
    }

    private static bool UseVector512 => t_mode != Mode.Managed256 && Vector512.IsHardwareAccelerated;

    /// <summary>Forces <paramref name="mode"/> on the calling thread until the scope is disposed.</summary>
    internal static ModeScope Use(Mode mode)
    {
        Mode previous = t_mode;
        t_mode = mode;
        return new ModeScope(previous);
    }

    internal readonly struct ModeScope(Mode previous) : IDisposable
    {
        public void Dispose() => t_mode = previous;
    }

    private static class Native
    {
        // dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t M, N, K, float alpha, const float *A, dnnl_dim_t lda,
        //                          const float *B, dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc);  (row-major)
        internal static readonly delegate* unmanaged<byte, byte, long, long, long, float, float*, long, float*, long, float, float*, long, int> Sgemm;
        // dnnl_status_t dnnl_gemm_bf16bf16f32(... const bfloat16_t *A ... const bfloat16_t *B ... float *C ...);
        internal static readonly delegate* unmanaged<byte, byte, long, long, long, float, ushort*, long, ushort*, long, float, float*, long, int> GemmBf16;

        private static readonly string? s_fallbackMessage;
        private static int s_reported;

        static Native()
        {
            if (string.Equals(Environment.GetEnvironmentVariable("SAECLUSTER_GEMM"), "managed", StringComparison.OrdinalIgnoreCase))
            {
                s_fallbackMessage = "SaeCluster: SAECLUSTER_GEMM=managed; using the managed SIMD GEMM";
                return;
            }
            PreferPassiveOpenMpThreads();
            foreach (string name in (ReadOnlySpan<string>)["libdnnl.so.2", "libdnnl.so", "libdnnl.so.3", "dnnl.dll", "libdnnl.dylib"])
            {
                if (!NativeLibrary.TryLoad(name, out nint handle)) continue;
                if (NativeLibrary.TryGetExport(handle, "dnnl_sgemm", out nint sgemm))
                {
                    Sgemm = (delegate* unmanaged<byte, byte, long, long, long, float, float*, long, float*, long, float, float*, long, int>)sgemm;
                    if (NativeLibrary.TryGetExport(handle, "dnnl_gemm_bf16bf16f32", out nint bf16))
                        GemmBf16 = (delegate* unmanaged<byte, byte, long, long, long, float, ushort*, long, ushort*, long, float, float*, long, int>)bf16;
                    return;
                }
                NativeLibrary.Free(handle);
            }
            s_fallbackMessage = "SaeCluster: oneDNN (libdnnl.so.2) not found; using the managed SIMD GEMM";
        }

        // oneDNN's OpenMP workers spin after each GEMM by default; on few cores that spinning starves the
        // .NET thread pool that runs everything between GEMMs (measured here: steps 10× slower). libgomp
        // reads OMP_WAIT_POLICY when it loads, so it must be in the C environment before dnnl is loaded.
        private static void PreferPassiveOpenMpThreads()
        {
            if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") != null) return;
            try { SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0); }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }

        [DllImport("libc", EntryPoint = "setenv")]
        private static extern int SetEnv(string name, string value, int overwrite);

        /// <summary>Writes the fallback notice to stderr once per process.</summary>
        internal static void ReportFallback()
        {
            if (s_fallbackMessage != null && Interlocked.Exchange(ref s_reported, 1) == 0)
                Console.Error.WriteLine(s_fallbackMessage);
        }
    }

    // ------------------------------------------------------------------ managed SIMD GEMM
    //
    // BLIS-style loop nest over op(A)[m×k]·op(B)[k×n]:
    //   ib (MB rows)  → pc (KC deep) → pack Ã = op(A)[ib.., pc..]   as MR-row strips, k-major   [mb×kc]
    //                                → jc (NC cols) → pack B̃ = op(B)[pc.., jc..] as NR-col strips, k-major [kc×nc]
    //                                              → Parallel.For over tiles (MC rows × ≤TileCols cols):
    //                                                  ir (MR strip of Ã, L1) → jr (NR strip of B̃, L2) → micro-kernel MR×NR
    // Packing absorbs all four transpose combinations and zero-pads edge strips, so the micro-kernel only
    // ever sees dense k-major panels; partial edge tiles go through a stack tile.

    private const int MR512 = 14, NR512 = 32;   // 28 zmm accumulators
    private const int MR256 = 6, NR256 = 16;    // 12 ymm accumulators
    private const int KC = 256;                 // Ã strip MR×kc (14 KiB) stays in L1
    private const int MCStrips = 16;            // MC = 16·MR rows per tile
    private const int NC = 4096;                // B̃ panel kc×NC (4 MiB) in L3
    private const int MB = 4096;                // bounds the packed Ã buffer (MB×KC floats)
    private const int MaxTileCols = 512;        // B̃ tile kc×512 (512 KiB) stays in L2
    private const long ParallelWork = 1L << 20; // m·n·k below this runs on the calling thread

    private static void ManagedSgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc, bool v512)
    {
        int mr = v512 ? MR512 : MR256, nr = v512 ? NR512 : NR256;
        int kcMax = Math.Min(k, KC);
        int mbMax = RoundUp(Math.Min(m, MB), mr), ncMax = RoundUp(Math.Min(n, NC), nr);
        float[] aBuf = ArrayPool<float>.Shared.Rent(mbMax * kcMax + 16);
        float[] bBuf = ArrayPool<float>.Shared.Rent(ncMax * kcMax + 16);
        try
        {
            fixed (float* aRaw = aBuf)
            fixed (float* bRaw = bBuf)
            {
                var job = new ManagedJob
                {
                    TransA = transA, TransB = transB, Alpha = alpha,
                    A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc,
                    MR = mr, NR = nr, V512 = v512,
                    Ap = Align64(aRaw), Bp = Align64(bRaw),
                };
                int threads = Environment.ProcessorCount;
                bool parallel = threads > 1 && (long)m * n * k >= ParallelWork;

                for (int ib = 0; ib < m; ib += MB)
                {
                    job.Ib = ib;
                    job.Mb = Math.Min(MB, m - ib);
                    for (int pc = 0; pc < k; pc += KC)
                    {
                        job.Pc = pc;
                        job.Kc = Math.Min(KC, k - pc);
                        job.Beta = pc == 0 ? beta : 1f;

                        int aStrips = (job.Mb + mr - 1) / mr;
                        Run(parallel, (aStrips + 7) / 8, job.PackABody);

                        for (int jc = 0; jc < n; jc += NC)
                        {
                            job.Jc = jc;
                            job.Nc = Math.Min(NC, n - jc);

                            int bStrips = (job.Nc + nr - 1) / nr;
                            Run(parallel, (bStrips + 7) / 8, job.PackBBody);

                            // Tiles: MC rows × TileCols cols; narrow the tiles until every thread has a few.
                            job.TilesM = (job.Mb + MCStrips * mr - 1) / (MCStrips * mr);
                            job.TileCols = Math.Min(RoundUp(job.Nc, nr), MaxTileCols);
                            while (parallel && job.TilesM * ((job.Nc + job.TileCols - 1) / job.TileCols) < 4 * threads && job.TileCols > 2 * nr)
                                job.TileCols = RoundUp(job.TileCols / 2, nr);
                            job.TilesN = (job.Nc + job.TileCols - 1) / job.TileCols;
                            Run(parallel, job.TilesM * job.TilesN, job.ComputeTileBody);
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(aBuf);
            ArrayPool<float>.Shared.Return(bBuf);
        }
    }

    private static void Run(bool parallel, int count, Action<int> body)
    {
        if (parallel && count > 1)
        {
            Parallel.For(0, count, body);
        }
        else
        {
            for (int i = 0; i < count; i++) body(i);
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    private static float* Align64(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    /// <summary>Operands and the current (ib, pc, jc) block; the packing / tile bodies run on pool threads.</summary>
    private sealed class ManagedJob
    {
        public bool TransA, TransB, V512;
        public float Alpha, Beta;
        public float* A, B, C;
        public int Lda, Ldb, Ldc, MR, NR;
        public float* Ap, Bp;                 // packed Ã [mb×kc], B̃ [kc×nc]
        public int Ib, Mb, Pc, Kc, Jc, Nc;    // current block
        public int TilesM, TilesN, TileCols;
        public readonly Action<int> PackABody, PackBBody, ComputeTileBody; // one delegate each per GEMM call

        public ManagedJob()
        {
            PackABody = PackA;
            PackBBody = PackB;
            ComputeTileBody = ComputeTile;
        }

        // Packs 8 MR-row strips of Ã: strip s holds op(A)[ib + s·MR + r, pc + p] at [p·MR + r].
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void PackA(int group)
        {
            int mr = MR, kc = Kc;
            int sEnd = Math.Min((group + 1) * 8, (Mb + mr - 1) / mr);
            for (int s = group * 8; s < sEnd; s++)
            {
                int row0 = Ib + s * mr, rows = Math.Min(mr, Ib + Mb - row0);
                float* dst = Ap + (nint)s * mr * kc;
                if (rows < mr) new Span<float>(dst, mr * kc).Clear();
                if (!TransA)
                {
                    // A [m×k]: row r of the strip is contiguous in p → transpose into stride MR.
                    TransposeInto(A + (nint)row0 * Lda + Pc, Lda, rows, kc, dst, mr);
                }
                else
                {
                    // A stored [k×m]: for each p the MR rows are contiguous.
                    for (int p = 0; p < kc; p++)
                        Buffer.MemoryCopy(A + (nint)(Pc + p) * Lda + row0, dst + p * mr, rows * sizeof(float), rows * sizeof(float));
                }
            }
        }

        // Packs 8 NR-column strips of B̃: strip t holds op(B)[pc + p, jc + t·NR + j] at [p·NR + j].
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void PackB(int group)
        {
            int nr = NR, kc = Kc;
            int tEnd = Math.Min((group + 1) * 8, (Nc + nr - 1) / nr);
            for (int t = group * 8; t < tEnd; t++)
            {
                int col0 = Jc + t * nr, cols = Math.Min(nr, Jc + Nc - col0);
                float* dst = Bp + (nint)t * nr * kc;
                if (cols < nr) new Span<float>(dst, nr * kc).Clear();
                if (!TransB)
                {
                    // B [k×n]: for each p the NR columns are contiguous.
                    for (int p = 0; p < kc; p++)
                        Buffer.MemoryCopy(B + (nint)(Pc + p) * Ldb + col0, dst + p * nr, cols * sizeof(float), cols * sizeof(float));
                }
                else
                {
                    // B stored [n×k]: column j of the strip is contiguous in p → transpose into stride NR.
                    TransposeInto(B + (nint)col0 * Ldb + Pc, Ldb, cols, kc, dst, nr);
                }
            }
        }

        // One tile of C: rows [ib + tm·MC, +MC) × cols [jc + tn·TileCols, +TileCols).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void ComputeTile(int tile)
        {
            int mr = MR, nr = NR, kc = Kc, mc = MCStrips * mr;
            int tm = tile / TilesN, tn = tile % TilesN;
            int i0 = tm * mc, rows = Math.Min(mc, Mb - i0);
            int j0 = tn * TileCols, cols = Math.Min(TileCols, Nc - j0);
            nint ldc = Ldc;
            float alpha = Alpha, beta = Beta;
            bool v512 = V512;
            float* edge = stackalloc float[MR512 * NR512];

            for (int ir = 0; ir < rows; ir += mr)
            {
                int mrEff = Math.Min(mr, rows - ir);
                float* ap = Ap + (nint)(i0 + ir) * kc;              // strip (i0 + ir) / MR: stays in L1
                for (int jr = 0; jr < cols; jr += nr)
                {
                    int nrEff = Math.Min(nr, cols - jr);
                    float* bp = Bp + (nint)(j0 + jr) * kc;          // strip (j0 + jr) / NR: streamed from L2
                    float* cij = C + (Ib + i0 + ir) * ldc + Jc + j0 + jr;
                    if (mrEff == mr && nrEff == nr)
                    {
                        if (v512) Kernel512(kc, ap, bp, cij, ldc, alpha, beta);
                        else Kernel256(kc, ap, bp, cij, ldc, alpha, beta);
                        continue;
                    }
                    // Edge tile: full MR×NR product into the stack tile, then the valid part into C.
                    if (v512) Kernel512(kc, ap, bp, edge, nr, alpha, 0f);
                    else Kernel256(kc, ap, bp, edge, nr, alpha, 0f);
                    for (int i = 0; i < mrEff; i++)
                    {
                        float* crow = cij + i * ldc;
                        float* erow = edge + i * nr;
                        if (beta == 0)
                            for (int j = 0; j < nrEff; j++) crow[j] = erow[j];
                        else
                            for (int j = 0; j < nrEff; j++) crow[j] = erow[j] + beta * crow[j];
                    }
                }
            }
        }
    }

    // dst[p·dstStride + r] = src[r·srcStride + p] for r < rows, p < cols (rows ≤ dstStride).
    // 8×8 AVX transposes; a ragged last block of rows / columns is redone overlapping the previous one.
    private static void TransposeInto(float* src, nint srcStride, int rows, int cols, float* dst, nint dstStride)
    {
        if (!Avx.IsSupported || rows < 8 || cols < 8)
        {
            for (int r = 0; r < rows; r++)
                for (int p = 0; p < cols; p++)
                    dst[p * dstStride + r] = src[r * srcStride + p];
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += 8)
        {
            int r = Math.Min(r0, rows - 8);
            for (int p0 = 0; p0 < cols; p0 += 8)
            {
                int p = Math.Min(p0, cols - 8);
                Transpose8x8(src + r * srcStride + p, srcStride, dst + p * dstStride + r, dstStride);
            }
        }
    }

    // dst[q·dstStride + i] = src[i·srcStride + q] for i, q < 8 (the classic unpack / shuffle / permute2f128 sequence).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, nint srcStride, float* dst, nint dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * srcStride), r3 = Avx.LoadVector256(src + 3 * srcStride);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * srcStride), r5 = Avx.LoadVector256(src + 5 * srcStride);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * srcStride), r7 = Avx.LoadVector256(src + 7 * srcStride);
        // t0 = [a00 a10 a01 a11 | a04 a14 a05 a15], t1 = [a02 a12 a03 a13 | a06 a16 a07 a17], ...
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        // s0 = [a00 a10 a20 a30 | a04 a14 a24 a34], s1 = column 1 | 5, s2 = 2 | 6, s3 = 3 | 7 (rows 0-3); s4..s7 rows 4-7.
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(s3, s7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta) =>
        Vector512.FusedMultiplyAdd(alpha, acc, beta * Vector512.Load(c)).Store(c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(float* c, Vector256<float> acc, Vector256<float> alpha, Vector256<float> beta) =>
        Vector256.FusedMultiplyAdd(alpha, acc, beta * Vector256.Load(c)).Store(c);

    // C[14×32] (row stride ldc) = alpha · Σ_p Ã[p, 0..14)ᵀ·B̃[p, 0..32) + beta · C, over the k-major strips
    // Ã [kc×14] (broadcast per row) and B̃ [kc×32] (2 zmm loads per p). beta == 0 never reads C.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c0_0 = default, c0_1 = default, c1_0 = default, c1_1 = default, c2_0 = default, c2_1 = default, c3_0 = default, c3_1 = default, c4_0 = default, c4_1 = default, c5_0 = default, c5_1 = default, c6_0 = default, c6_1 = default, c7_0 = default, c7_1 = default, c8_0 = default, c8_1 = default, c9_0 = default, c9_1 = default, c10_0 = default, c10_1 = default, c11_0 = default, c11_1 = default, c12_0 = default, c12_1 = default, c13_0 = default, c13_1 = default;
        // Pull the C tile towards L1 while the k loop runs (it is read / written only at the end).
        if (Sse.IsSupported)
            for (int i = 0; i < 14; i++) { Sse.Prefetch0(c + i * ldc); Sse.Prefetch0(c + i * ldc + 31); }
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b + 0); Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> av;
            av = Vector512.Create(a[0]); c0_0 = Vector512.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(av, b1, c0_1);
            av = Vector512.Create(a[1]); c1_0 = Vector512.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(av, b1, c1_1);
            av = Vector512.Create(a[2]); c2_0 = Vector512.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(av, b1, c2_1);
            av = Vector512.Create(a[3]); c3_0 = Vector512.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(av, b1, c3_1);
            av = Vector512.Create(a[4]); c4_0 = Vector512.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(av, b1, c4_1);
            av = Vector512.Create(a[5]); c5_0 = Vector512.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(av, b1, c5_1);
            av = Vector512.Create(a[6]); c6_0 = Vector512.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(av, b1, c6_1);
            av = Vector512.Create(a[7]); c7_0 = Vector512.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(av, b1, c7_1);
            av = Vector512.Create(a[8]); c8_0 = Vector512.FusedMultiplyAdd(av, b0, c8_0); c8_1 = Vector512.FusedMultiplyAdd(av, b1, c8_1);
            av = Vector512.Create(a[9]); c9_0 = Vector512.FusedMultiplyAdd(av, b0, c9_0); c9_1 = Vector512.FusedMultiplyAdd(av, b1, c9_1);
            av = Vector512.Create(a[10]); c10_0 = Vector512.FusedMultiplyAdd(av, b0, c10_0); c10_1 = Vector512.FusedMultiplyAdd(av, b1, c10_1);
            av = Vector512.Create(a[11]); c11_0 = Vector512.FusedMultiplyAdd(av, b0, c11_0); c11_1 = Vector512.FusedMultiplyAdd(av, b1, c11_1);
            av = Vector512.Create(a[12]); c12_0 = Vector512.FusedMultiplyAdd(av, b0, c12_0); c12_1 = Vector512.FusedMultiplyAdd(av, b1, c12_1);
            av = Vector512.Create(a[13]); c13_0 = Vector512.FusedMultiplyAdd(av, b0, c13_0); c13_1 = Vector512.FusedMultiplyAdd(av, b1, c13_1);
            a += 14; b += 32;
        }
        Vector512<float> va = Vector512.Create(alpha);
        if (beta == 0)
        {
            (va * c0_0).Store(c + 0 * ldc + 0); (va * c0_1).Store(c + 0 * ldc + 16);
            (va * c1_0).Store(c + 1 * ldc + 0); (va * c1_1).Store(c + 1 * ldc + 16);
            (va * c2_0).Store(c + 2 * ldc + 0); (va * c2_1).Store(c + 2 * ldc + 16);
            (va * c3_0).Store(c + 3 * ldc + 0); (va * c3_1).Store(c + 3 * ldc + 16);
            (va * c4_0).Store(c + 4 * ldc + 0); (va * c4_1).Store(c + 4 * ldc + 16);
            (va * c5_0).Store(c + 5 * ldc + 0); (va * c5_1).Store(c + 5 * ldc + 16);
            (va * c6_0).Store(c + 6 * ldc + 0); (va * c6_1).Store(c + 6 * ldc + 16);
            (va * c7_0).Store(c + 7 * ldc + 0); (va * c7_1).Store(c + 7 * ldc + 16);
            (va * c8_0).Store(c + 8 * ldc + 0); (va * c8_1).Store(c + 8 * ldc + 16);
            (va * c9_0).Store(c + 9 * ldc + 0); (va * c9_1).Store(c + 9 * ldc + 16);
            (va * c10_0).Store(c + 10 * ldc + 0); (va * c10_1).Store(c + 10 * ldc + 16);
            (va * c11_0).Store(c + 11 * ldc + 0); (va * c11_1).Store(c + 11 * ldc + 16);
            (va * c12_0).Store(c + 12 * ldc + 0); (va * c12_1).Store(c + 12 * ldc + 16);
            (va * c13_0).Store(c + 13 * ldc + 0); (va * c13_1).Store(c + 13 * ldc + 16);
        }
        else
        {
            Vector512<float> vb = Vector512.Create(beta);
            Update(c + 0 * ldc + 0, c0_0, va, vb); Update(c + 0 * ldc + 16, c0_1, va, vb);
            Update(c + 1 * ldc + 0, c1_0, va, vb); Update(c + 1 * ldc + 16, c1_1, va, vb);
            Update(c + 2 * ldc + 0, c2_0, va, vb); Update(c + 2 * ldc + 16, c2_1, va, vb);
            Update(c + 3 * ldc + 0, c3_0, va, vb); Update(c + 3 * ldc + 16, c3_1, va, vb);
            Update(c + 4 * ldc + 0, c4_0, va, vb); Update(c + 4 * ldc + 16, c4_1, va, vb);
            Update(c + 5 * ldc + 0, c5_0, va, vb); Update(c + 5 * ldc + 16, c5_1, va, vb);
            Update(c + 6 * ldc + 0, c6_0, va, vb); Update(c + 6 * ldc + 16, c6_1, va, vb);
            Update(c + 7 * ldc + 0, c7_0, va, vb); Update(c + 7 * ldc + 16, c7_1, va, vb);
            Update(c + 8 * ldc + 0, c8_0, va, vb); Update(c + 8 * ldc + 16, c8_1, va, vb);
            Update(c + 9 * ldc + 0, c9_0, va, vb); Update(c + 9 * ldc + 16, c9_1, va, vb);
            Update(c + 10 * ldc + 0, c10_0, va, vb); Update(c + 10 * ldc + 16, c10_1, va, vb);
            Update(c + 11 * ldc + 0, c11_0, va, vb); Update(c + 11 * ldc + 16, c11_1, va, vb);
            Update(c + 12 * ldc + 0, c12_0, va, vb); Update(c + 12 * ldc + 16, c12_1, va, vb);
            Update(c + 13 * ldc + 0, c13_0, va, vb); Update(c + 13 * ldc + 16, c13_1, va, vb);
        }
    }

    // C[6×16] (row stride ldc): the Vector256 (AVX2) variant of Kernel512, Ã [kc×6], B̃ [kc×16].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c0_0 = default, c0_1 = default, c1_0 = default, c1_1 = default, c2_0 = default, c2_1 = default, c3_0 = default, c3_1 = default, c4_0 = default, c4_1 = default, c5_0 = default, c5_1 = default;
        // Pull the C tile towards L1 while the k loop runs (it is read / written only at the end).
        if (Sse.IsSupported)
            for (int i = 0; i < 6; i++) { Sse.Prefetch0(c + i * ldc); Sse.Prefetch0(c + i * ldc + 15); }
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b + 0); Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> av;
            av = Vector256.Create(a[0]); c0_0 = Vector256.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Vector256.FusedMultiplyAdd(av, b1, c0_1);
            av = Vector256.Create(a[1]); c1_0 = Vector256.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Vector256.FusedMultiplyAdd(av, b1, c1_1);
            av = Vector256.Create(a[2]); c2_0 = Vector256.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Vector256.FusedMultiplyAdd(av, b1, c2_1);
            av = Vector256.Create(a[3]); c3_0 = Vector256.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Vector256.FusedMultiplyAdd(av, b1, c3_1);
            av = Vector256.Create(a[4]); c4_0 = Vector256.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Vector256.FusedMultiplyAdd(av, b1, c4_1);
            av = Vector256.Create(a[5]); c5_0 = Vector256.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Vector256.FusedMultiplyAdd(av, b1, c5_1);
            a += 6; b += 16;
        }
        Vector256<float> va = Vector256.Create(alpha);
        if (beta == 0)
        {
            (va * c0_0).Store(c + 0 * ldc + 0); (va * c0_1).Store(c + 0 * ldc + 8);
            (va * c1_0).Store(c + 1 * ldc + 0); (va * c1_1).Store(c + 1 * ldc + 8);
            (va * c2_0).Store(c + 2 * ldc + 0); (va * c2_1).Store(c + 2 * ldc + 8);
            (va * c3_0).Store(c + 3 * ldc + 0); (va * c3_1).Store(c + 3 * ldc + 8);
            (va * c4_0).Store(c + 4 * ldc + 0); (va * c4_1).Store(c + 4 * ldc + 8);
            (va * c5_0).Store(c + 5 * ldc + 0); (va * c5_1).Store(c + 5 * ldc + 8);
        }
        else
        {
            Vector256<float> vb = Vector256.Create(beta);
            Update(c + 0 * ldc + 0, c0_0, va, vb); Update(c + 0 * ldc + 8, c0_1, va, vb);
            Update(c + 1 * ldc + 0, c1_0, va, vb); Update(c + 1 * ldc + 8, c1_1, va, vb);
            Update(c + 2 * ldc + 0, c2_0, va, vb); Update(c + 2 * ldc + 8, c2_1, va, vb);
            Update(c + 3 * ldc + 0, c3_0, va, vb); Update(c + 3 * ldc + 8, c3_1, va, vb);
            Update(c + 4 * ldc + 0, c4_0, va, vb); Update(c + 4 * ldc + 8, c4_1, va, vb);
            Update(c + 5 * ldc + 0, c5_0, va, vb); Update(c + 5 * ldc + 8, c5_1, va, vb);
        }
    }
}
