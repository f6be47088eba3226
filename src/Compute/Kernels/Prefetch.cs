using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace SaeCluster.Compute;

/// <summary>
/// Software prefetch of a row the caller will read next. The sparse passes gather rows of a few KB in an
/// order no hardware prefetcher can guess; asking for the next row while the current one is being used
/// hides the memory latency. A no-op where SSE is absent.
/// </summary>
public static unsafe class Prefetch
{
    /// <summary>Prefetches every cache line of <paramref name="row"/> into all cache levels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Row<T>(ReadOnlySpan<T> row) where T : unmanaged
    {
        if (!Sse.IsSupported) return;
        byte* p = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(row));
        long bytes = (long)row.Length * sizeof(T);
        for (long o = 0; o < bytes; o += 64) Sse.Prefetch0(p + o);
    }
}
