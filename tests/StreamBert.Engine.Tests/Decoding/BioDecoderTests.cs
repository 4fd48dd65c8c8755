using StreamBert.Contracts;
using StreamBert.Engine.Decoding;

namespace StreamBert.Engine.Tests.Decoding;

public sealed class BioDecoderTests
{
    // Indices into LabelSets.NerTags.
    private const int O = 0;
    private const int BPer = 1;
    private const int IPer = 2;
    private const int BOrg = 3;
    private const int IOrg = 4;
    private const int BLoc = 5;
    private const int ILoc = 6;
    private const int BMisc = 7;

    private static List<WordSpan> Decode(int[] tags, float[]? probabilities = null)
    {
        probabilities ??= Enumerable.Repeat(1f, tags.Length).ToArray();
        var output = new List<WordSpan>();
        BioDecoder.Decode(tags, probabilities, LabelSets.NerTags, output);
        return output;
    }

    [Fact]
    public void NerTags_IndexConstants_MatchLabelOrder()
    {
        Assert.Equal("O", LabelSets.NerTags[O]);
        Assert.Equal("B-PER", LabelSets.NerTags[BPer]);
        Assert.Equal("I-PER", LabelSets.NerTags[IPer]);
        Assert.Equal("B-ORG", LabelSets.NerTags[BOrg]);
        Assert.Equal("I-ORG", LabelSets.NerTags[IOrg]);
        Assert.Equal("B-LOC", LabelSets.NerTags[BLoc]);
        Assert.Equal("I-LOC", LabelSets.NerTags[ILoc]);
        Assert.Equal("B-MISC", LabelSets.NerTags[BMisc]);
    }

    [Fact]
    public void Decode_BeginInsideInside_OneEntityOverAllThreeWords()
    {
        var spans = Decode([O, BPer, IPer, IPer, O]);

        var span = Assert.Single(spans);
        Assert.Equal((1, 4, "PER"), (span.StartWord, span.EndWord, span.Type));
    }

    [Fact]
    public void Decode_InsideAfterOutside_StartsEntity()
    {
        var spans = Decode([O, IOrg, IOrg, O]);

        var span = Assert.Single(spans);
        Assert.Equal((1, 3, "ORG"), (span.StartWord, span.EndWord, span.Type));
    }

    [Fact]
    public void Decode_InsideAtSequenceStart_StartsEntity()
    {
        var spans = Decode([ILoc, O]);

        var span = Assert.Single(spans);
        Assert.Equal((0, 1, "LOC"), (span.StartWord, span.EndWord, span.Type));
    }

    [Fact]
    public void Decode_InsideOfOtherTypeAfterBegin_ClosesAndStartsNewEntity()
    {
        var spans = Decode([BPer, IOrg, IOrg]);

        Assert.Equal(2, spans.Count);
        Assert.Equal((0, 1, "PER"), (spans[0].StartWord, spans[0].EndWord, spans[0].Type));
        Assert.Equal((1, 3, "ORG"), (spans[1].StartWord, spans[1].EndWord, spans[1].Type));
    }

    [Fact]
    public void Decode_BeginBeginSameType_TwoEntities()
    {
        var spans = Decode([BLoc, BLoc, ILoc]);

        Assert.Equal(2, spans.Count);
        Assert.Equal((0, 1, "LOC"), (spans[0].StartWord, spans[0].EndWord, spans[0].Type));
        Assert.Equal((1, 3, "LOC"), (spans[1].StartWord, spans[1].EndWord, spans[1].Type));
    }

    [Fact]
    public void Decode_EntityAtSequenceEnd_IsEmittedWithEndAtLength()
    {
        var spans = Decode([O, O, BMisc, BPer, IPer]);

        Assert.Equal(2, spans.Count);
        Assert.Equal((2, 3, "MISC"), (spans[0].StartWord, spans[0].EndWord, spans[0].Type));
        Assert.Equal((3, 5, "PER"), (spans[1].StartWord, spans[1].EndWord, spans[1].Type));
    }

    [Fact]
    public void Decode_AllOutside_NoEntities()
    {
        var output = new List<WordSpan>();
        BioDecoder.Decode([O, O, O], [0.9f, 0.8f, 0.7f], LabelSets.NerTags, output);

        Assert.Empty(output);
    }

    [Fact]
    public void Decode_EmptySequence_NoEntities()
    {
        Assert.Empty(Decode([]));
    }

    [Fact]
    public void Decode_Score_IsMeanOfTheEntityWordsProbabilities()
    {
        // Probabilities of O words around and between entities must not leak into the scores.
        var spans = Decode([O, BPer, IPer, IPer, O, IOrg], [0.1f, 0.9f, 0.6f, 0.3f, 0.2f, 0.5f]);

        Assert.Equal(2, spans.Count);
        Assert.Equal(0.6f, spans[0].Score, 1e-6f);
        Assert.Equal(0.5f, spans[1].Score, 1e-6f);
    }

    [Fact]
    public void Decode_ScoreAfterTypeSwitch_DoesNotCarryPreviousEntitySum()
    {
        var spans = Decode([BPer, IPer, ILoc, ILoc], [1.0f, 0.8f, 0.4f, 0.2f]);

        Assert.Equal(2, spans.Count);
        Assert.Equal(0.9f, spans[0].Score, 1e-6f);
        Assert.Equal(0.3f, spans[1].Score, 1e-6f);
    }

    [Fact]
    public void Decode_OutputNotCleared_AppendsAfterExistingSpans()
    {
        var existing = new WordSpan(0, 1, "X", 1f);
        var output = new List<WordSpan> { existing };

        BioDecoder.Decode([BOrg], [0.5f], LabelSets.NerTags, output);

        Assert.Equal([existing, new WordSpan(0, 1, "ORG", 0.5f)], output);
    }
}
