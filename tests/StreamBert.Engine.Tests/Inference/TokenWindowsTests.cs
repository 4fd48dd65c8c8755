using System.Text;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Tests.Inference;

public sealed class TokenWindowsTests
{
    private static List<(int Start, int Count)> Plan(int tokenCount, int maxLength, int overlap)
    {
        var output = new List<(int Start, int Count)>();
        TokenWindows.Plan(tokenCount, maxLength, overlap, output);
        return output;
    }

    [Theory]
    [InlineData(0, 512, 128)]
    [InlineData(1, 512, 128)]
    [InlineData(510, 512, 128)]
    public void Plan_FitsInOneWindow_SingleWindowOverAllTokens(int tokenCount, int maxLength, int overlap)
    {
        Assert.Equal([(0, tokenCount)], Plan(tokenCount, maxLength, overlap));
    }

    [Fact]
    public void Plan_OneOverCapacity_TwoOverlappingWindows()
    {
        // capacity 10, stride 7: [0,10) and [7,11).
        Assert.Equal([(0, 10), (7, 4)], Plan(11, 12, 3));
    }

    [Theory]
    [InlineData(1000, 130, 32)]
    [InlineData(511, 512, 128)]
    [InlineData(2000, 512, 128)]
    [InlineData(97, 12, 3)]
    [InlineData(100, 12, 0)]
    [InlineData(37, 3, 0)]
    [InlineData(50, 4, 1)]
    public void Plan_LongSequence_WindowsCoverEveryTokenWithinCapacityAndOverlap(int tokenCount, int maxLength, int overlap)
    {
        var capacity = maxLength - 2;
        var windows = Plan(tokenCount, maxLength, overlap);

        Assert.True(windows.Count > 1);
        Assert.Equal(0, windows[0].Start);
        Assert.Equal(tokenCount, windows[^1].Start + windows[^1].Count);
        Assert.All(windows, w => Assert.InRange(w.Count, 1, capacity));
        for (var i = 1; i < windows.Count; i++)
        {
            var previousEnd = windows[i - 1].Start + windows[i - 1].Count;
            Assert.Equal(overlap, previousEnd - windows[i].Start);
        }

        var covered = new bool[tokenCount];
        foreach (var (start, count) in windows)
        {
            covered.AsSpan(start, count).Fill(true);
        }

        Assert.All(covered, Assert.True);
    }

    [Fact]
    public void Plan_OverlapOverHalfCapacity_ClampedToHalfCapacity()
    {
        // capacity 10: overlap 50 is clamped to 5, stride 5.
        var windows = Plan(22, 12, 50);

        Assert.Equal([(0, 10), (5, 10), (10, 10), (15, 7)], windows);
    }

    [Fact]
    public void Plan_OutputNotCleared_Appends()
    {
        var output = new List<(int Start, int Count)> { (99, 1) };

        TokenWindows.Plan(3, 10, 2, output);

        Assert.Equal([(99, 1), (0, 3)], output);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void Plan_MaxLengthWithoutRoomForPieces_Throws(int maxLength)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Plan(10, maxLength, 0));
    }

    [Fact]
    public void Plan_NegativeOverlap_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Plan(10, 8, -1));
    }

    [Fact]
    public void BestWindowFor_TokenInTwoWindows_PicksWindowWhereItIsMostCentral()
    {
        (int, int)[] windows = [(0, 10), (5, 10), (10, 10)];

        Assert.Equal(1, TokenWindows.BestWindowFor(9, windows)); // margins 0 vs 4
        Assert.Equal(0, TokenWindows.BestWindowFor(6, windows)); // margins 3 vs 1
        Assert.Equal(0, TokenWindows.BestWindowFor(4, windows)); // only window 0 holds it
        Assert.Equal(2, TokenWindows.BestWindowFor(15, windows)); // window 2 margin 4, window 1 does not hold it
        Assert.Equal(2, TokenWindows.BestWindowFor(13, windows)); // margins 1 vs 3
    }

    [Fact]
    public void BestWindowFor_EqualMargins_PicksFirstWindow()
    {
        (int, int)[] symmetric = [(0, 9), (2, 9)];

        // Index 5: min(5, 3) = 3 and min(3, 5) = 3.
        Assert.Equal(0, TokenWindows.BestWindowFor(5, symmetric));
    }

    [Fact]
    public void BestWindowFor_IndexOutsideAllWindows_ReturnsMinusOne()
    {
        (int, int)[] windows = [(0, 10), (5, 10)];

        Assert.Equal(-1, TokenWindows.BestWindowFor(15, windows));
        Assert.Equal(-1, TokenWindows.BestWindowFor(-1, windows));
        Assert.Equal(-1, TokenWindows.BestWindowFor(0, []));
    }

    [Fact]
    public void BestWindowFor_PlannedWindows_MarginIsMaximalAmongCoveringWindows()
    {
        const int tokenCount = 700;
        var windows = Plan(tokenCount, 130, 40);

        for (var index = 0; index < tokenCount; index++)
        {
            var best = TokenWindows.BestWindowFor(index, windows);
            Assert.InRange(best, 0, windows.Count - 1);
            var (bestStart, bestCount) = windows[best];
            Assert.InRange(index, bestStart, bestStart + bestCount - 1);
            var bestMargin = Math.Min(index - bestStart, bestStart + bestCount - 1 - index);
            foreach (var (start, count) in windows)
            {
                if (index >= start && index < start + count)
                {
                    Assert.True(Math.Min(index - start, start + count - 1 - index) <= bestMargin, $"token {index}");
                }
            }
        }
    }

    [Fact]
    public void Ids_Window_WrapsPiecesInClsAndSep()
    {
        var tokenizer = WordPieceTokenizer.FromStream(new MemoryStream(Encoding.UTF8.GetBytes("[PAD]\n[UNK]\n[SEP]\n[CLS]\na\nb\nc\nd\n")));
        var tokens = new List<Token>();
        tokenizer.Tokenize("a b c d", tokens);
        Assert.Equal([4, 5, 6, 7], tokens.Select(t => t.Id));

        Assert.Equal([3, 5, 6, 2], TokenWindows.Ids(tokens, 1, 2, tokenizer));
        Assert.Equal([3, 4, 5, 6, 7, 2], TokenWindows.Ids(tokens, 0, 4, tokenizer));
        Assert.Equal([3, 2], TokenWindows.Ids(tokens, 4, 0, tokenizer));
    }
}
