using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Evaluation;
using StreamBert.Training.Modeling;
using static TorchSharp.torch;

namespace StreamBert.Training.FineTuning;

/// <summary>
/// A text for sequence classification: its ids (first window, as heads-only training reads), class index, and — for an
/// encoder with case token types — each position's word shape, as serving computes them for the text.
/// </summary>
public sealed record SequenceExample(string Text, int[] Ids, int Label, float[]? Shapes = null) : ITokenizedExample
{
    float[]? ITokenizedExample.WordShapes => Shapes;

    /// <summary>Tokenises <paramref name="text"/> and cuts it to <paramref name="maxLength"/> pieces with [CLS] and [SEP].</summary>
    /// <param name="wordShapes">Also compute word shapes (<see cref="WordShape.ForSequence"/>), for an encoder with case token types.</param>
    public static SequenceExample Create(WordPieceTokenizer tokenizer, string text, int label, int maxLength, bool wordShapes = false)
    {
        var tokens = new List<Token>();
        tokenizer.Tokenize(text, tokens);
        var count = Math.Min(tokens.Count, maxLength - 2);
        return new SequenceExample(text, TokenWindows.Ids(tokens, 0, count, tokenizer), label, wordShapes ? WordShape.ForSequence(text, tokens, 0, count) : null);
    }
}

/// <summary>
/// Fine-tunes for one label per text (spam, claims): cross-entropy on a <see cref="SequenceClassificationHead"/>,
/// validated by F1 of the positive class (index 1), the figure the task is judged by.
/// </summary>
public sealed class SequenceFineTuner : FineTuner<SequenceExample>
{
    private readonly SequenceClassificationHead _head;
    private readonly float[]? _classWeights;

    /// <param name="classWeights">Per-class loss weights (e.g. balanced for claims, as heads-only training balances); null for none.</param>
    public SequenceFineTuner(BertEncoder encoder, SequenceClassificationHead head, FineTuneOptions options, TextWriter? log = null, float[]? classWeights = null)
        : base(encoder, head, options, log)
    {
        _head = head;
        _classWeights = classWeights;
    }

    /// <summary>Balanced weights n / (classes · count), for an imbalanced binary task.</summary>
    public static float[] BalancedWeights(IReadOnlyList<SequenceExample> examples, int classes)
    {
        var counts = new int[classes];
        foreach (var e in examples)
        {
            counts[e.Label]++;
        }

        return counts.Select(c => c == 0 ? 1f : (float)examples.Count / (classes * c)).ToArray();
    }

    /// <summary>Probability of class 1 for each example, in input order.</summary>
    public float[] PositiveProbabilities(IReadOnlyList<SequenceExample> examples)
    {
        Encoder.eval();
        _head.eval();
        using var noGrad = no_grad();
        var result = new float[examples.Count];
        foreach (var indices in SortedBatches(examples))
        {
            var batch = indices.Select(i => examples[i]).ToList();
            using var scope = NewDisposeScope();
            var padded = Pad(batch);
            var probabilities = _head.forward(EncodeBatch(padded), padded.Mask).softmax(-1)[TensorIndex.Colon, 1].contiguous().data<float>().ToArray();
            for (var r = 0; r < batch.Count; r++)
            {
                result[indices[r]] = probabilities[r];
            }
        }

        return result;
    }

    protected override Tensor ComputeLoss(IReadOnlyList<SequenceExample> batch)
    {
        var padded = Pad(batch);
        return Loss(EncodeBatch(padded), padded.Mask, batch);
    }

    /// <summary>The head's class-weighted cross-entropy on encoder outputs of <paramref name="batch"/> (also for a batch the joint loop encoded).</summary>
    internal Tensor Loss(IReadOnlyList<Tensor> hiddenStates, Tensor mask, IReadOnlyList<SequenceExample> batch)
    {
        var logits = _head.forward(hiddenStates, mask);
        var labels = tensor(batch.Select(e => (long)e.Label).ToArray(), device: logits.device);
        var weights = _classWeights is null ? null : tensor(_classWeights, device: logits.device);
        return nn.functional.cross_entropy(logits, labels, weight: weights);
    }

    protected override double Evaluate(IReadOnlyList<SequenceExample> examples)
    {
        var probabilities = PositiveProbabilities(examples);
        return BinaryMetrics.Compute(examples.Select(e => e.Label).ToList(), probabilities.Select(p => p >= 0.5f ? 1 : 0).ToList(), 1).F1;
    }
}
