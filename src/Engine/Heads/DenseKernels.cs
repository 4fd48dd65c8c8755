using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace StreamBert.Engine.Heads;

/// <summary>
/// Blocked single-precision matrix products for dense heads (row-major, no allocation).
/// </summary>
/// <remarks>
/// <para>
/// Every output element is reduced in the same order whichever tile or thread computes it
/// (one SIMD accumulator over the shared dimension, a fixed horizontal sum, then a sequential
/// scalar tail). Results therefore do not depend on the tiling or on how rows are split across
/// threads, which keeps training bit-for-bit reproducible for a given seed on a given machine.
/// </para>
/// <para>
/// Vector512 is used where the hardware accelerates it, otherwise Vector256, otherwise scalar
/// code, so results may differ in the last bits between machines with different vector widths.
/// The loops are compiled fully optimised at once (<see cref="MethodImplOptions.AggressiveOptimization"/>):
/// they are hand-vectorised, so tiered compilation would only add a slow first epoch.
/// </para>
/// </remarks>
internal static class DenseKernels
{
    /// <summary>
    /// <c>c[i, j] = bias[j] + Σp a[i, p] · b[j, p]</c>: a is <paramref name="m"/>×<paramref name="k"/>,
    /// b is <paramref name="n"/>×<paramref name="k"/> (PyTorch's <c>[out, in]</c> weight layout), c is m×n.
    /// </summary>
    public static void MultiplyTransposedB(
        ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, ReadOnlySpan<float> bias, Span<float> c)
    {
        if (a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n || (!bias.IsEmpty && bias.Length < n))
        {
            throw new ArgumentException("Span too short for the given dimensions.");
        }

        if (Vector512.IsHardwareAccelerated && k >= Vector512<float>.Count)
        {
            TransposedB512(a, m, k, b, n, bias, c);
        }
        else if (Vector256.IsHardwareAccelerated && k >= Vector256<float>.Count)
        {
            TransposedB256(a, m, k, b, n, bias, c);
        }
        else
        {
            TransposedBScalar(a, m, k, b, n, bias, c);
        }
    }

    /// <summary>
    /// <c>c[i, j] = Σp a[p, i] · b[p, j]</c> (c = aᵀ·b) for the columns <paramref name="colStart"/>..<paramref name="colEnd"/>
    /// and rows <paramref name="rowStart"/>..<paramref name="rowEnd"/> of c: a is r×m, b is r×n, c is m×n. Overwrites c.
    /// This is the weight gradient <c>dZᵀ·X</c> of a dense layer; the column range lets callers split it across threads.
    /// </summary>
    public static void MultiplyTransposedA(
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, int r, int m, int n, Span<float> c,
        int rowStart, int rowEnd, int colStart, int colEnd)
    {
        if (a.Length < (long)r * m || b.Length < (long)r * n || c.Length < (long)m * n
            || rowStart < 0 || rowEnd > m || rowStart > rowEnd || colStart < 0 || colEnd > n || colStart > colEnd)
        {
            throw new ArgumentException("Span too short or range outside the given dimensions.");
        }

        int col = colStart;
        if (Vector512.IsHardwareAccelerated)
        {
            col = TransposedA512(a, b, r, m, n, c, rowStart, rowEnd, col, colEnd);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            col = TransposedA256(a, b, r, m, n, c, rowStart, rowEnd, col, colEnd);
        }

        TransposedAScalar(a, b, r, m, n, c, rowStart, rowEnd, col, colEnd);
    }

    // ---- c = a·bᵀ ---------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposedB512(
        ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, ReadOnlySpan<float> bias, Span<float> c)
    {
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        int vecEnd = k - (k % Vector512<float>.Count);
        int i = 0;
        for (; i + 4 <= m; i += 4)
        {
            int j = 0;
            for (; j + 4 <= n; j += 4)
            {
                Tile4x4Of512(ref ra, ref rb, i, j, k, vecEnd, bias, c, n);
            }

            for (; j < n; j++)
            {
                for (int ii = i; ii < i + 4; ii++)
                {
                    c[ii * n + j] = Dot512(ref ra, ii * k, ref rb, j * k, k, vecEnd) + BiasAt(bias, j);
                }
            }
        }

        for (; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                c[i * n + j] = Dot512(ref ra, i * k, ref rb, j * k, k, vecEnd) + BiasAt(bias, j);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4Of512(
        ref float ra, ref float rb, int i, int j, int k, int vecEnd, ReadOnlySpan<float> bias, Span<float> c, int n)
    {
        nuint a0 = (nuint)(i * k), a1 = a0 + (nuint)k, a2 = a1 + (nuint)k, a3 = a2 + (nuint)k;
        nuint b0 = (nuint)(j * k), b1 = b0 + (nuint)k, b2 = b1 + (nuint)k, b3 = b2 + (nuint)k;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (nuint p = 0; p < (nuint)vecEnd; p += (nuint)Vector512<float>.Count)
        {
            var w0 = Vector512.LoadUnsafe(ref rb, b0 + p);
            var w1 = Vector512.LoadUnsafe(ref rb, b1 + p);
            var w2 = Vector512.LoadUnsafe(ref rb, b2 + p);
            var w3 = Vector512.LoadUnsafe(ref rb, b3 + p);
            var x = Vector512.LoadUnsafe(ref ra, a0 + p);
            c00 = Vector512.MultiplyAddEstimate(x, w0, c00);
            c01 = Vector512.MultiplyAddEstimate(x, w1, c01);
            c02 = Vector512.MultiplyAddEstimate(x, w2, c02);
            c03 = Vector512.MultiplyAddEstimate(x, w3, c03);
            x = Vector512.LoadUnsafe(ref ra, a1 + p);
            c10 = Vector512.MultiplyAddEstimate(x, w0, c10);
            c11 = Vector512.MultiplyAddEstimate(x, w1, c11);
            c12 = Vector512.MultiplyAddEstimate(x, w2, c12);
            c13 = Vector512.MultiplyAddEstimate(x, w3, c13);
            x = Vector512.LoadUnsafe(ref ra, a2 + p);
            c20 = Vector512.MultiplyAddEstimate(x, w0, c20);
            c21 = Vector512.MultiplyAddEstimate(x, w1, c21);
            c22 = Vector512.MultiplyAddEstimate(x, w2, c22);
            c23 = Vector512.MultiplyAddEstimate(x, w3, c23);
            x = Vector512.LoadUnsafe(ref ra, a3 + p);
            c30 = Vector512.MultiplyAddEstimate(x, w0, c30);
            c31 = Vector512.MultiplyAddEstimate(x, w1, c31);
            c32 = Vector512.MultiplyAddEstimate(x, w2, c32);
            c33 = Vector512.MultiplyAddEstimate(x, w3, c33);
        }

        // Passed by value (not gathered into a span) so the accumulators stay in registers in the loop above.
        Finish(Vector512.Sum(c00), ref ra, ref rb, i, j, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c01), ref ra, ref rb, i, j + 1, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c02), ref ra, ref rb, i, j + 2, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c03), ref ra, ref rb, i, j + 3, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c10), ref ra, ref rb, i + 1, j, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c11), ref ra, ref rb, i + 1, j + 1, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c12), ref ra, ref rb, i + 1, j + 2, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c13), ref ra, ref rb, i + 1, j + 3, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c20), ref ra, ref rb, i + 2, j, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c21), ref ra, ref rb, i + 2, j + 1, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c22), ref ra, ref rb, i + 2, j + 2, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c23), ref ra, ref rb, i + 2, j + 3, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c30), ref ra, ref rb, i + 3, j, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c31), ref ra, ref rb, i + 3, j + 1, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c32), ref ra, ref rb, i + 3, j + 2, k, vecEnd, n, bias, c);
        Finish(Vector512.Sum(c33), ref ra, ref rb, i + 3, j + 3, k, vecEnd, n, bias, c);
    }

    /// <summary>Adds the scalar tail and the bias to a reduced SIMD sum and stores it at c[row, col].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(
        float vectorSum, ref float ra, ref float rb, int row, int col, int k, int vecEnd, int n,
        ReadOnlySpan<float> bias, Span<float> c)
    {
        float sum = ScalarTail(ref ra, row * k, ref rb, col * k, vecEnd, k, vectorSum);
        c[row * n + col] = sum + BiasAt(bias, col);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot512(ref float ra, int aOffset, ref float rb, int bOffset, int k, int vecEnd)
    {
        Vector512<float> acc = default;
        for (int p = 0; p < vecEnd; p += Vector512<float>.Count)
        {
            acc = Vector512.MultiplyAddEstimate(
                Vector512.LoadUnsafe(ref ra, (nuint)(aOffset + p)), Vector512.LoadUnsafe(ref rb, (nuint)(bOffset + p)), acc);
        }

        return ScalarTail(ref ra, aOffset, ref rb, bOffset, vecEnd, k, Vector512.Sum(acc));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposedB256(
        ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, ReadOnlySpan<float> bias, Span<float> c)
    {
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        int vecEnd = k - (k % Vector256<float>.Count);
        int i = 0;
        for (; i + 4 <= m; i += 4)
        {
            int j = 0;
            for (; j + 2 <= n; j += 2)
            {
                nuint a0 = (nuint)(i * k), a1 = a0 + (nuint)k, a2 = a1 + (nuint)k, a3 = a2 + (nuint)k;
                nuint b0 = (nuint)(j * k), b1 = b0 + (nuint)k;
                Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
                Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
                for (nuint p = 0; p < (nuint)vecEnd; p += (nuint)Vector256<float>.Count)
                {
                    var w0 = Vector256.LoadUnsafe(ref rb, b0 + p);
                    var w1 = Vector256.LoadUnsafe(ref rb, b1 + p);
                    var x = Vector256.LoadUnsafe(ref ra, a0 + p);
                    c00 = Vector256.MultiplyAddEstimate(x, w0, c00);
                    c01 = Vector256.MultiplyAddEstimate(x, w1, c01);
                    x = Vector256.LoadUnsafe(ref ra, a1 + p);
                    c10 = Vector256.MultiplyAddEstimate(x, w0, c10);
                    c11 = Vector256.MultiplyAddEstimate(x, w1, c11);
                    x = Vector256.LoadUnsafe(ref ra, a2 + p);
                    c20 = Vector256.MultiplyAddEstimate(x, w0, c20);
                    c21 = Vector256.MultiplyAddEstimate(x, w1, c21);
                    x = Vector256.LoadUnsafe(ref ra, a3 + p);
                    c30 = Vector256.MultiplyAddEstimate(x, w0, c30);
                    c31 = Vector256.MultiplyAddEstimate(x, w1, c31);
                }

                Finish(Vector256.Sum(c00), ref ra, ref rb, i, j, k, vecEnd, n, bias, c);
                Finish(Vector256.Sum(c01), ref ra, ref rb, i, j + 1, k, vecEnd, n, bias, c);
                Finish(Vector256.Sum(c10), ref ra, ref rb, i + 1, j, k, vecEnd, n, bias, c);
                Finish(Vector256.Sum(c11), ref ra, ref rb, i + 1, j + 1, k, vecEnd, n, bias, c);
                Finish(Vector256.Sum(c20), ref ra, ref rb, i + 2, j, k, vecEnd, n, bias, c);
                Finish(Vector256.Sum(c21), ref ra, ref rb, i + 2, j + 1, k, vecEnd, n, bias, c);
                Finish(Vector256.Sum(c30), ref ra, ref rb, i + 3, j, k, vecEnd, n, bias, c);
                Finish(Vector256.Sum(c31), ref ra, ref rb, i + 3, j + 1, k, vecEnd, n, bias, c);
            }

            for (; j < n; j++)
            {
                for (int ii = i; ii < i + 4; ii++)
                {
                    c[ii * n + j] = Dot256(ref ra, ii * k, ref rb, j * k, k, vecEnd) + BiasAt(bias, j);
                }
            }
        }

        for (; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                c[i * n + j] = Dot256(ref ra, i * k, ref rb, j * k, k, vecEnd) + BiasAt(bias, j);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot256(ref float ra, int aOffset, ref float rb, int bOffset, int k, int vecEnd)
    {
        Vector256<float> acc = default;
        for (int p = 0; p < vecEnd; p += Vector256<float>.Count)
        {
            acc = Vector256.MultiplyAddEstimate(
                Vector256.LoadUnsafe(ref ra, (nuint)(aOffset + p)), Vector256.LoadUnsafe(ref rb, (nuint)(bOffset + p)), acc);
        }

        return ScalarTail(ref ra, aOffset, ref rb, bOffset, vecEnd, k, Vector256.Sum(acc));
    }

    private static void TransposedBScalar(
        ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, ReadOnlySpan<float> bias, Span<float> c)
    {
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                c[i * n + j] = ScalarTail(ref ra, i * k, ref rb, j * k, 0, k, 0f) + BiasAt(bias, j);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScalarTail(ref float ra, int aOffset, ref float rb, int bOffset, int from, int k, float sum)
    {
        for (int p = from; p < k; p++)
        {
            sum += Unsafe.Add(ref ra, aOffset + p) * Unsafe.Add(ref rb, bOffset + p);
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BiasAt(ReadOnlySpan<float> bias, int j) => bias.IsEmpty ? 0f : bias[j];

    // ---- c = aᵀ·b ---------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int TransposedA512(
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, int r, int m, int n, Span<float> c,
        int rowStart, int rowEnd, int col, int colEnd)
    {
        const int W = 16; // Vector512<float>.Count, a constant so the tile offsets fold.
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        ref float rc = ref MemoryMarshal.GetReference(c);
        for (; col + 2 * W <= colEnd; col += 2 * W)
        {
            int i = rowStart;
            for (; i + 4 <= rowEnd; i += 4)
            {
                Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
                Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
                for (int p = 0; p < r; p++)
                {
                    nuint bo = (nuint)(p * n + col);
                    var x0 = Vector512.LoadUnsafe(ref rb, bo);
                    var x1 = Vector512.LoadUnsafe(ref rb, bo + W);
                    ref float ap = ref Unsafe.Add(ref ra, p * m + i);
                    var s = Vector512.Create(ap);
                    c00 = Vector512.MultiplyAddEstimate(s, x0, c00);
                    c01 = Vector512.MultiplyAddEstimate(s, x1, c01);
                    s = Vector512.Create(Unsafe.Add(ref ap, 1));
                    c10 = Vector512.MultiplyAddEstimate(s, x0, c10);
                    c11 = Vector512.MultiplyAddEstimate(s, x1, c11);
                    s = Vector512.Create(Unsafe.Add(ref ap, 2));
                    c20 = Vector512.MultiplyAddEstimate(s, x0, c20);
                    c21 = Vector512.MultiplyAddEstimate(s, x1, c21);
                    s = Vector512.Create(Unsafe.Add(ref ap, 3));
                    c30 = Vector512.MultiplyAddEstimate(s, x0, c30);
                    c31 = Vector512.MultiplyAddEstimate(s, x1, c31);
                }

                c00.StoreUnsafe(ref rc, (nuint)(i * n + col)); c01.StoreUnsafe(ref rc, (nuint)(i * n + col + W));
                c10.StoreUnsafe(ref rc, (nuint)((i + 1) * n + col)); c11.StoreUnsafe(ref rc, (nuint)((i + 1) * n + col + W));
                c20.StoreUnsafe(ref rc, (nuint)((i + 2) * n + col)); c21.StoreUnsafe(ref rc, (nuint)((i + 2) * n + col + W));
                c30.StoreUnsafe(ref rc, (nuint)((i + 3) * n + col)); c31.StoreUnsafe(ref rc, (nuint)((i + 3) * n + col + W));
            }

            for (; i < rowEnd; i++)
            {
                Vector512<float> c0 = default, c1 = default;
                for (int p = 0; p < r; p++)
                {
                    nuint bo = (nuint)(p * n + col);
                    var s = Vector512.Create(Unsafe.Add(ref ra, p * m + i));
                    c0 = Vector512.MultiplyAddEstimate(s, Vector512.LoadUnsafe(ref rb, bo), c0);
                    c1 = Vector512.MultiplyAddEstimate(s, Vector512.LoadUnsafe(ref rb, bo + W), c1);
                }

                c0.StoreUnsafe(ref rc, (nuint)(i * n + col));
                c1.StoreUnsafe(ref rc, (nuint)(i * n + col + W));
            }
        }

        return col;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int TransposedA256(
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, int r, int m, int n, Span<float> c,
        int rowStart, int rowEnd, int col, int colEnd)
    {
        const int W = 8; // Vector256<float>.Count
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        ref float rc = ref MemoryMarshal.GetReference(c);
        for (; col + 2 * W <= colEnd; col += 2 * W)
        {
            int i = rowStart;
            for (; i + 4 <= rowEnd; i += 4)
            {
                Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
                Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
                for (int p = 0; p < r; p++)
                {
                    nuint bo = (nuint)(p * n + col);
                    var x0 = Vector256.LoadUnsafe(ref rb, bo);
                    var x1 = Vector256.LoadUnsafe(ref rb, bo + W);
                    ref float ap = ref Unsafe.Add(ref ra, p * m + i);
                    var s = Vector256.Create(ap);
                    c00 = Vector256.MultiplyAddEstimate(s, x0, c00);
                    c01 = Vector256.MultiplyAddEstimate(s, x1, c01);
                    s = Vector256.Create(Unsafe.Add(ref ap, 1));
                    c10 = Vector256.MultiplyAddEstimate(s, x0, c10);
                    c11 = Vector256.MultiplyAddEstimate(s, x1, c11);
                    s = Vector256.Create(Unsafe.Add(ref ap, 2));
                    c20 = Vector256.MultiplyAddEstimate(s, x0, c20);
                    c21 = Vector256.MultiplyAddEstimate(s, x1, c21);
                    s = Vector256.Create(Unsafe.Add(ref ap, 3));
                    c30 = Vector256.MultiplyAddEstimate(s, x0, c30);
                    c31 = Vector256.MultiplyAddEstimate(s, x1, c31);
                }

                c00.StoreUnsafe(ref rc, (nuint)(i * n + col)); c01.StoreUnsafe(ref rc, (nuint)(i * n + col + W));
                c10.StoreUnsafe(ref rc, (nuint)((i + 1) * n + col)); c11.StoreUnsafe(ref rc, (nuint)((i + 1) * n + col + W));
                c20.StoreUnsafe(ref rc, (nuint)((i + 2) * n + col)); c21.StoreUnsafe(ref rc, (nuint)((i + 2) * n + col + W));
                c30.StoreUnsafe(ref rc, (nuint)((i + 3) * n + col)); c31.StoreUnsafe(ref rc, (nuint)((i + 3) * n + col + W));
            }

            for (; i < rowEnd; i++)
            {
                Vector256<float> c0 = default, c1 = default;
                for (int p = 0; p < r; p++)
                {
                    nuint bo = (nuint)(p * n + col);
                    var s = Vector256.Create(Unsafe.Add(ref ra, p * m + i));
                    c0 = Vector256.MultiplyAddEstimate(s, Vector256.LoadUnsafe(ref rb, bo), c0);
                    c1 = Vector256.MultiplyAddEstimate(s, Vector256.LoadUnsafe(ref rb, bo + W), c1);
                }

                c0.StoreUnsafe(ref rc, (nuint)(i * n + col));
                c1.StoreUnsafe(ref rc, (nuint)(i * n + col + W));
            }
        }

        return col;
    }

    private static void TransposedAScalar(
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, int r, int m, int n, Span<float> c,
        int rowStart, int rowEnd, int colStart, int colEnd)
    {
        for (int i = rowStart; i < rowEnd; i++)
        {
            for (int j = colStart; j < colEnd; j++)
            {
                // Lane-wise, the SIMD paths are exactly this sequential sum over p (no horizontal reduction).
                float sum = 0f;
                for (int p = 0; p < r; p++)
                {
                    sum = MathF.FusedMultiplyAdd(a[p * m + i], b[p * n + j], sum);
                }

                c[i * n + j] = sum;
            }
        }
    }
}
