using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.FineTuning;

namespace StreamBert.Training.Tests.FineTuning;

public sealed class TokenExampleTests
{
    private static readonly Lazy<WordPieceTokenizer> Tokenizer = new(() => WordPieceTokenizer.FromFile(MiniLmResources.Ensure().VocabPath));
    private static readonly IReadOnlyDictionary<string, int> TagIndex = LabelSets.NerTags.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);

    [Fact]
    public void Create_MultiPieceWords_OnlyFirstPieceLabelledOthersIgnored()
    {
        var sentence = new NerSentence(["Schwarzenegger", "visited", "Kathmandu", "."], ["B-PER", "O", "B-LOC", "O"]);

        var example = TokenExample.Create(Tokenizer.Value, sentence, TagIndex, maxLength: 64);

        var labelled = example.PieceLabels.Select((l, i) => (l, i)).Where(p => p.l != TokenFineTuner.Ignore).ToList();
        Assert.Equal(example.FirstPieces, labelled.Select(p => p.i));
        Assert.Equal(sentence.Tags.Select(t => (long)TagIndex[t]), labelled.Select(p => p.l));
        Assert.True(example.Ids.Length > sentence.Tokens.Count + 2, "the names should split into several pieces");
        Assert.Equal(TokenFineTuner.Ignore, example.PieceLabels[0]);
        Assert.Equal(TokenFineTuner.Ignore, example.PieceLabels[^1]);
        // Serving's shapes: every piece of "Schwarzenegger" carries the initial-capital flag.
        Assert.Equal(1f, example.Shapes[(1 * WordShape.Size) + 0]);
        Assert.Equal(1f, example.Shapes[(2 * WordShape.Size) + 0]);
    }

    [Fact]
    public void Create_SentenceLongerThanMaxLength_CutWordsGetNoPiece()
    {
        var words = Enumerable.Range(0, 40).Select(i => $"word{i}").ToList();
        var sentence = new NerSentence(words, words.Select(_ => "O").ToList());

        var example = TokenExample.Create(Tokenizer.Value, sentence, TagIndex, maxLength: 16);

        Assert.Equal(16, example.Ids.Length);
        Assert.Equal(-1, example.FirstPieces[^1]);
        Assert.True(example.FirstPieces[0] == 1);
    }
}
