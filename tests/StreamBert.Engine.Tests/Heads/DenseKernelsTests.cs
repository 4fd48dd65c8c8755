using StreamBert.Engine.Heads;

namespace StreamBert.Engine.Tests.Heads;

public class DenseKernelsTests
{
    private static float[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 37, 5)]
    [InlineData(9, 70, 19)]
    [InlineData(33, 1536, 9)]
    public void MultiplyTransposedB_OddShapes_MatchesNaiveProduct(int m, int k, int n)
    {
        float[] a = Random(m * k, 1), b = Random(n * k, 2), bias = Random(n, 3), c = new float[m * n];

        DenseKernels.MultiplyTransposedB(a, m, k, b, n, bias, c);

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double expected = bias[j];
                for (int p = 0; p < k; p++)
                {
                    expected += (double)a[i * k + p] * b[j * k + p];
                }

                Assert.Equal(expected, c[i * n + j], 1e-4);
            }
        }
    }

    [Fact]
    public void MultiplyTransposedB_RowSlices_GiveBitIdenticalResults()
    {
        const int m = 13, k = 100, n = 7;
        float[] a = Random(m * k, 4), b = Random(n * k, 5), whole = new float[m * n], pieces = new float[m * n];

        DenseKernels.MultiplyTransposedB(a, m, k, b, n, default, whole);
        // Rows in slices of 1, 2, 3, 7: different tiles compute each row.
        int row = 0;
        foreach (int rows in new[] { 1, 2, 3, 7 })
        {
            DenseKernels.MultiplyTransposedB(a.AsSpan(row * k, rows * k), rows, k, b, n, default, pieces.AsSpan(row * n, rows * n));
            row += rows;
        }

        Assert.Equal(whole, pieces);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(5, 9, 40)]
    [InlineData(64, 7, 77)]
    public void MultiplyTransposedA_OddShapes_MatchesNaiveProduct(int r, int m, int n)
    {
        float[] a = Random(r * m, 6), b = Random(r * n, 7), c = new float[m * n];

        DenseKernels.MultiplyTransposedA(a, b, r, m, n, c, 0, m, 0, n);

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double expected = 0;
                for (int p = 0; p < r; p++)
                {
                    expected += (double)a[p * m + i] * b[p * n + j];
                }

                Assert.Equal(expected, c[i * n + j], 1e-4);
            }
        }
    }

    [Fact]
    public void MultiplyTransposedA_ColumnAndRowRanges_GiveBitIdenticalResults()
    {
        const int r = 50, m = 11, n = 83;
        float[] a = Random(r * m, 8), b = Random(r * n, 9), whole = new float[m * n], pieces = new float[m * n];

        DenseKernels.MultiplyTransposedA(a, b, r, m, n, whole, 0, m, 0, n);
        foreach (var (rowStart, rowEnd, colStart, colEnd) in new[] { (0, 5, 0, 13), (0, 5, 13, 83), (5, 11, 0, 64), (5, 11, 64, 83) })
        {
            DenseKernels.MultiplyTransposedA(a, b, r, m, n, pieces, rowStart, rowEnd, colStart, colEnd);
        }

        Assert.Equal(whole, pieces);
    }

    [Fact]
    public void Multiply_SpansTooShort_Throw()
    {
        Assert.Throws<ArgumentException>(() => DenseKernels.MultiplyTransposedB(new float[5], 2, 3, new float[3], 1, default, new float[2]));
        Assert.Throws<ArgumentException>(() => DenseKernels.MultiplyTransposedA(new float[6], new float[6], 2, 3, 3, new float[9], 0, 3, 0, 4));
    }
}
