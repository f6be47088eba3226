using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SaeCluster.Compute;

/// <summary>
/// Copies a strided view of a storage (element[i0, i1, …] = storage[offset + Σ i_d·stride_d], strides in elements)
/// into contiguous row-major order. <see cref="Check"/> validates the view against the storage; <see cref="Gather"/>
/// trusts that check and indexes without bounds checks.
/// </summary>
internal static class StridedGather
{
    /// <summary>Side of the square tiles in which strided 2-D views are copied (a 32×32 tile of 8-byte elements is 8 KiB).</summary>
    private const int Tile = 32;

    /// <summary>
    /// Why the view cannot be read from a storage of <paramref name="storageElements"/> elements, or null when every index
    /// it touches lies inside the storage. <paramref name="count"/> is the number of elements of the view.
    /// </summary>
    public static string? Check(long[] shape, long[] strides, long offset, long storageElements, out long count)
    {
        count = 1;
        if (strides.Length != shape.Length)
            return $"shape [{string.Join(", ", shape)}] has {shape.Length} dimensions but strides ({string.Join(", ", strides)}) have {strides.Length}";
        if (offset < 0) return $"storage offset {offset} is negative";
        long lowest = 0, highest = 0;
        try
        {
            for (int d = 0; d < shape.Length; d++)
            {
                if (shape[d] < 0) return $"shape [{string.Join(", ", shape)}] has a negative dimension";
                count = checked(count * shape[d]);
                if (shape[d] == 0) continue;
                long reach = checked((shape[d] - 1) * strides[d]);
                if (reach >= 0) highest = checked(highest + reach);
                else lowest = checked(lowest + reach);
            }
            if (count == 0) return null;
            lowest = checked(offset + lowest);
            highest = checked(offset + highest);
        }
        catch (OverflowException)
        {
            return $"shape [{string.Join(", ", shape)}] with strides ({string.Join(", ", strides)}) and offset {offset} overflows a 64-bit index";
        }
        if (lowest < 0 || highest >= storageElements)
            return $"shape [{string.Join(", ", shape)}] with strides ({string.Join(", ", strides)}) and storage offset {offset} reaches elements " +
                   $"[{lowest}, {highest}], outside the storage of {storageElements} elements";
        return null;
    }

    /// <summary>
    /// Writes the view into <paramref name="dst"/> (exactly count·<paramref name="elementSize"/> bytes) in row-major order.
    /// The view must have passed <see cref="Check"/> against <paramref name="storage"/>.
    /// </summary>
    public static void Gather(int elementSize, long[] shape, long[] strides, long offset, ReadOnlySpan<byte> storage, Span<byte> dst)
    {
        switch (elementSize)
        {
            case 1: Gather(MemoryMarshal.Cast<byte, byte>(storage), shape, strides, offset, dst); break;
            case 2: Gather(MemoryMarshal.Cast<byte, ushort>(storage), shape, strides, offset, MemoryMarshal.Cast<byte, ushort>(dst)); break;
            case 4: Gather(MemoryMarshal.Cast<byte, uint>(storage), shape, strides, offset, MemoryMarshal.Cast<byte, uint>(dst)); break;
            case 8: Gather(MemoryMarshal.Cast<byte, ulong>(storage), shape, strides, offset, MemoryMarshal.Cast<byte, ulong>(dst)); break;
            default: throw new ArgumentOutOfRangeException(nameof(elementSize), elementSize, "element size must be 1, 2, 4 or 8");
        }
    }

    private static void Gather<T>(ReadOnlySpan<T> src, long[] shape, long[] strides, long offset, Span<T> dst) where T : unmanaged
    {
        if (dst.IsEmpty) return;
        var (sizes, steps) = Simplify(shape, strides);
        int outer = sizes.Count - 2;
        int rows = (int)sizes[outer], cols = (int)sizes[outer + 1];
        nint rowStep = (nint)steps[outer], colStep = (nint)steps[outer + 1];
        int tile = rows * cols;

        // Odometer over the dimensions in front of the last two; each position is one rows×cols tile of the output.
        var index = new long[outer];
        nint start = (nint)offset;
        for (int written = 0; written < dst.Length; written += tile)
        {
            Gather2D(src, start, rows, cols, rowStep, colStep, dst.Slice(written, tile));
            for (int d = outer - 1; d >= 0; d--)
            {
                start += (nint)steps[d];
                if (++index[d] < sizes[d]) break;
                start -= (nint)(steps[d] * sizes[d]);
                index[d] = 0;
            }
        }
    }

    /// <summary>
    /// The same view with size-1 dimensions dropped and row-major-adjacent dimensions merged, padded in front with
    /// size-1 dimensions to at least two (so a contiguous view becomes one [1, count] row).
    /// </summary>
    private static (List<long> Sizes, List<long> Steps) Simplify(long[] shape, long[] strides)
    {
        var sizes = new List<long>(shape.Length + 2);
        var steps = new List<long>(shape.Length + 2);
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            int last = sizes.Count - 1;
            if (last >= 0 && steps[last] == strides[d] * shape[d])
            {
                sizes[last] *= shape[d];
                steps[last] = strides[d];
            }
            else
            {
                sizes.Add(shape[d]);
                steps.Add(strides[d]);
            }
        }
        while (sizes.Count < 2)
        {
            sizes.Insert(0, 1);
            steps.Insert(0, 0);
        }
        return (sizes, steps);
    }

    /// <summary>dst[i·cols + j] = src[start + i·rowStep + j·colStep]: row copies when columns are adjacent, tiles otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Gather2D<T>(ReadOnlySpan<T> src, nint start, int rows, int cols, nint rowStep, nint colStep, Span<T> dst) where T : unmanaged
    {
        if (colStep == 1)
        {
            for (int i = 0; i < rows; i++)
                src.Slice((int)(start + i * rowStep), cols).CopyTo(dst.Slice(i * cols, cols));
            return;
        }

        // Tiles keep both the strided reads and the sequential writes of one tile in L1 (column-major sources: rowStep 1).
        ref T s = ref MemoryMarshal.GetReference(src);
        ref T d = ref MemoryMarshal.GetReference(dst);
        for (int i0 = 0; i0 < rows; i0 += Tile)
        {
            int i1 = Math.Min(i0 + Tile, rows);
            for (int j0 = 0; j0 < cols; j0 += Tile)
            {
                int j1 = Math.Min(j0 + Tile, cols);
                for (int i = i0; i < i1; i++)
                {
                    nint from = start + i * rowStep + j0 * colStep;
                    ref T to = ref Unsafe.Add(ref d, (nint)i * cols);
                    for (int j = j0; j < j1; j++, from += colStep)
                        Unsafe.Add(ref to, j) = Unsafe.Add(ref s, from);
                }
            }
        }
    }
}
