using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Tests.Inference;

public sealed class WordShapeTests
{
    private static float[] Shape(string word)
    {
        var shape = new float[WordShape.Size];
        WordShape.Write(word, shape);
        return shape;
    }

    // [initial capital, all capitals, has a digit, all lower case, no letter at all]
    [Theory]
    [InlineData("Apple", new[] { 1f, 0f, 0f, 0f, 0f })]
    [InlineData("NASA", new[] { 1f, 1f, 0f, 0f, 0f })]
    [InlineData("a1", new[] { 0f, 0f, 1f, 1f, 0f })]
    [InlineData("hello", new[] { 0f, 0f, 0f, 1f, 0f })]
    [InlineData("--", new[] { 0f, 0f, 0f, 0f, 1f })]
    [InlineData("A", new[] { 1f, 0f, 0f, 0f, 0f })]
    [InlineData("2024", new[] { 0f, 0f, 1f, 0f, 1f })]
    [InlineData("iPhone", new[] { 0f, 0f, 0f, 0f, 0f })]
    [InlineData("", new[] { 0f, 0f, 0f, 0f, 1f })]
    public void Write_Word_WritesExpectedShape(string word, float[] expected)
    {
        Assert.Equal(expected, Shape(word));
    }

    [Fact]
    public void Write_DestinationWithStaleValues_OverwritesAllFeatures()
    {
        float[] destination = [9f, 9f, 9f, 9f, 9f, 7f];

        WordShape.Write("hello", destination);

        Assert.Equal([0f, 0f, 0f, 1f, 0f, 7f], destination);
    }

    // "Washington visited NASA": pieces wash|##ington (word 0), visited (word 1), na|##sa (word 2).
    private const string Text = "Washington visited NASA";

    private static readonly List<Token> Tokens =
    [
        new(100, 0, 4, 0),
        new(101, 4, 10, 0),
        new(102, 11, 18, 1),
        new(103, 19, 21, 2),
        new(104, 21, 23, 2),
    ];

    private static float[] Row(float[] shapes, int row) => shapes.AsSpan(row * WordShape.Size, WordShape.Size).ToArray();

    [Fact]
    public void ForSequence_WholeSequence_EveryPieceGetsItsWordShapeAndSpecialRowsAreZero()
    {
        var shapes = WordShape.ForSequence(Text, Tokens, 0, Tokens.Count);

        Assert.Equal((Tokens.Count + 2) * WordShape.Size, shapes.Length);
        Assert.Equal(new float[WordShape.Size], Row(shapes, 0));
        Assert.Equal(Shape("Washington"), Row(shapes, 1));
        Assert.Equal(Shape("Washington"), Row(shapes, 2));
        Assert.Equal(Shape("visited"), Row(shapes, 3));
        Assert.Equal(Shape("NASA"), Row(shapes, 4));
        Assert.Equal(Shape("NASA"), Row(shapes, 5));
        Assert.Equal(new float[WordShape.Size], Row(shapes, 6));

        // Pieces alone would look different: "##ington" is lower case, "sa" of "NASA" is not one capital.
        Assert.NotEqual(Shape("ington"), Row(shapes, 2));
        Assert.Equal([1f, 1f, 0f, 0f, 0f], Row(shapes, 5));
    }

    [Fact]
    public void ForSequence_WindowCutsWords_PiecesStillGetWholeWordShape()
    {
        // Window [1, 4): ##ington, visited, na — the first and last words extend outside the window.
        var shapes = WordShape.ForSequence(Text, Tokens, 1, 3);

        Assert.Equal(5 * WordShape.Size, shapes.Length);
        Assert.Equal(new float[WordShape.Size], Row(shapes, 0));
        Assert.Equal(Shape("Washington"), Row(shapes, 1));
        Assert.Equal(Shape("visited"), Row(shapes, 2));
        Assert.Equal(Shape("NASA"), Row(shapes, 3));
        Assert.Equal(new float[WordShape.Size], Row(shapes, 4));
    }

    [Fact]
    public void ForSequence_EmptyWindow_OnlyZeroSpecialRows()
    {
        var shapes = WordShape.ForSequence(Text, Tokens, 2, 0);

        Assert.Equal(new float[2 * WordShape.Size], shapes);
    }

    [Theory]
    [InlineData("visited", 0L)]
    [InlineData("1996", 0L)]
    [InlineData(",", 0L)]
    [InlineData("Washington", 1L)]
    [InlineData("I", 1L)]
    [InlineData("McDonald", 1L)]
    [InlineData("NASA", 2L)]
    [InlineData("U.S.", 2L)]
    public void CaseType_OfAWord_NoneInitialOrAllCapitals(string word, long expected)
    {
        Assert.Equal(expected, WordShape.CaseType(Shape(word)));
    }

    [Fact]
    public void WriteCaseTypes_Sequence_SpecialRowsZeroAndPiecesTheirWordsCase()
    {
        var shapes = WordShape.ForSequence(Text, Tokens, 0, Tokens.Count);
        var types = new long[shapes.Length / WordShape.Size];

        WordShape.WriteCaseTypes(shapes, types);

        // [CLS] wash ##ington visited na ##sa [SEP]
        Assert.Equal([0L, 1L, 1L, 0L, 2L, 2L, 0L], types);
    }

    [Fact]
    public void EncoderBatch_SetRowWithShapes_WritesCaseTypesOnlyThere()
    {
        var shapes = WordShape.ForSequence(Text, Tokens, 0, Tokens.Count);
        int[] ids = [101, 1, 2, 3, 4, 5, 102];
        using var batch = new EncoderBatch(2, 8);

        batch.SetRow(0, ids, shapes);
        batch.SetRow(1, ids);

        Assert.Equal([0L, 1L, 1L, 0L, 2L, 2L, 0L, 0L], batch.TokenTypeIds.Span[..8].ToArray());
        Assert.Equal(new long[8], batch.TokenTypeIds.Span[8..].ToArray());
        Assert.Throws<ArgumentException>(() => batch.SetRow(1, ids, shapes.AsSpan(WordShape.Size)));
    }
}
