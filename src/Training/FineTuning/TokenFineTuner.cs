using StreamBert.Engine.Decoding;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.Modeling;
using static TorchSharp.torch;

namespace StreamBert.Training.FineTuning;

/// <summary>
/// A tagged sentence for token classification: ids, each piece's word shape (as serving computes them), a label per
/// piece where only the first piece of each word carries its tag and every other position is
/// <see cref="TokenFineTuner.Ignore"/>, and the position of each word's first piece (-1 when cut off).
/// </summary>
public sealed record TokenExample(int[] Ids, float[] Shapes, long[] PieceLabels, int[] FirstPieces, IReadOnlyList<string> Tags) : ITokenizedExample
{
    float[]? ITokenizedExample.WordShapes => Shapes;

    /// <summary>
    /// Tokenises pre-split words as the serving path does (<see cref="WordPieceTokenizer.TokenizeWords"/>, shapes from
    /// <see cref="WordShape.ForSequence"/> over the joined words), keeping the first window of <paramref name="maxLength"/>.
    /// Tags not in <paramref name="tagIndex"/> are ignored in the loss.
    /// </summary>
    public static TokenExample Create(WordPieceTokenizer tokenizer, NerSentence sentence, IReadOnlyDictionary<string, int> tagIndex, int maxLength)
    {
        var tokens = new List<Token>();
        tokenizer.TokenizeWords(sentence.Tokens, tokens);
        var count = Math.Min(tokens.Count, maxLength - 2);
        var ids = TokenWindows.Ids(tokens, 0, count, tokenizer);
        var shapes = WordShape.ForSequence(string.Join(' ', sentence.Tokens), tokens, 0, count);
        var labels = new long[ids.Length];
        Array.Fill(labels, TokenFineTuner.Ignore);
        var first = new int[sentence.Tokens.Count];
        Array.Fill(first, -1);
        for (var i = count - 1; i >= 0; i--)
        {
            first[tokens[i].Word] = i + 1;
        }

        for (var w = 0; w < first.Length; w++)
        {
            if (first[w] >= 0 && tagIndex.TryGetValue(sentence.Tags[w], out var tag))
            {
                labels[first[w]] = tag;
            }
        }

        return new TokenExample(ids, shapes, labels, first, sentence.Tags);
    }
}

/// <summary>
/// Fine-tunes for one tag per word (NER): cross-entropy over first pieces only (other pieces, [CLS], [SEP] and padding
/// are ignored, like heads-only first-subword labelling), validated by CoNLL entity-level F1 on whole words.
/// </summary>
public sealed class TokenFineTuner : FineTuner<TokenExample>
{
    /// <summary>Label of positions the loss skips (PyTorch's default <c>ignore_index</c>).</summary>
    public const long Ignore = -100;

    private readonly TokenClassificationHead _head;
    private readonly IReadOnlyList<string> _tags;
    private readonly BioViterbi _viterbi;

    public TokenFineTuner(BertEncoder encoder, TokenClassificationHead head, IReadOnlyList<string> tags, FineTuneOptions options, TextWriter? log = null)
        : base(encoder, head, options, log)
    {
        _head = head;
        _tags = tags;
        _viterbi = new BioViterbi(tags);
    }

    /// <summary>Predicted tag of every word (words cut off by the maximum length get <c>O</c>), in input order.</summary>
    public string[][] PredictTags(IReadOnlyList<TokenExample> examples)
    {
        Encoder.eval();
        _head.eval();
        using var noGrad = no_grad();
        var result = new string[examples.Count][];
        foreach (var indices in SortedBatches(examples))
        {
            var batch = indices.Select(i => examples[i]).ToList();
            using var scope = NewDisposeScope();
            var padded = Pad(batch);
            var length = padded.Length;
            var probabilities = nn.functional.softmax(_head.forward(EncodeBatch(padded), Shapes(batch, length)), -1).contiguous().data<float>().ToArray();
            var tagCount = _tags.Count;
            for (var r = 0; r < batch.Count; r++)
            {
                // As served: the words that kept a piece are decoded together under the BIO constraints.
                var first = batch[r].FirstPieces;
                var kept = first.Where(p => p >= 0).ToArray();
                var rows = new float[kept.Length * tagCount];
                for (var k = 0; k < kept.Length; k++)
                {
                    Array.Copy(probabilities, ((r * length) + kept[k]) * tagCount, rows, k * tagCount, tagCount);
                }

                var best = new int[kept.Length];
                _viterbi.Decode(rows, best);
                var tags = new string[first.Length];
                for (int w = 0, k = 0; w < first.Length; w++)
                {
                    tags[w] = first[w] < 0 ? "O" : _tags[best[k++]];
                }

                result[indices[r]] = tags;
            }
        }

        return result;
    }

    protected override Tensor ComputeLoss(IReadOnlyList<TokenExample> batch)
    {
        var padded = Pad(batch);
        return Loss(EncodeBatch(padded), batch, padded.Length);
    }

    /// <summary>Cross-entropy over first pieces on encoder outputs of <paramref name="batch"/> padded to <paramref name="length"/> (also for a batch the joint loop encoded).</summary>
    internal Tensor Loss(IReadOnlyList<Tensor> hiddenStates, IReadOnlyList<TokenExample> batch, int length)
    {
        var logits = _head.forward(hiddenStates, Shapes(batch, length));
        var labels = new long[batch.Count * length];
        Array.Fill(labels, Ignore);
        for (var r = 0; r < batch.Count; r++)
        {
            batch[r].PieceLabels.CopyTo(labels, r * length);
        }

        var target = tensor(labels, device: logits.device);
        return nn.functional.cross_entropy(logits.reshape(-1, _tags.Count), target, ignore_index: Ignore);
    }

    protected override double Evaluate(IReadOnlyList<TokenExample> examples)
    {
        var predicted = PredictTags(examples);
        return ConllEval.Evaluate(examples.Select((e, i) => (e.Tags, (IReadOnlyList<string>)predicted[i]))).Overall.F1;
    }

    private Tensor? Shapes(IReadOnlyList<TokenExample> batch, int length)
    {
        if (!_head.WordShape)
        {
            return null;
        }

        var shapes = new float[batch.Count * length * WordShape.Size];
        for (var r = 0; r < batch.Count; r++)
        {
            batch[r].Shapes.CopyTo(shapes, r * length * WordShape.Size);
        }

        return tensor(shapes, [batch.Count, length, WordShape.Size], device: Device);
    }
}
