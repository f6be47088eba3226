namespace SaeCluster.Compute;

/// <summary>
/// Row-major GEMM: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C.
/// op(A) is A ([m,k], lda ≥ k) or Aᵀ (A stored [k,m], lda ≥ m); likewise for B.
/// </summary>
public static class Gemm
{
    /// <summary>Name of the backend in use ("onednn" or "managed").</summary>
    public static string Backend => "managed-naive";

    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        // PLACEHOLDER (replaced by the oneDNN / SIMD implementation)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < k; p++)
                    s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }
    }

    /// <summary>bf16 × bf16 → f32 (AMX through oneDNN where available).</summary>
    public static void GemmBf16(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<ushort> a, int lda, ReadOnlySpan<ushort> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < k; p++)
                    s += Bf16.ToSingle(transA ? a[p * lda + i] : a[i * lda + p]) * Bf16.ToSingle(transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }
    }
}
