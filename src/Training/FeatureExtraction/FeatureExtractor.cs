using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Training.FeatureExtraction;

/// <summary>
/// Frozen-encoder features for training heads: runs texts through the encoder in length-sorted,
/// token-budgeted batches (the same feature code the processor serves with) and returns one vector per
/// text, or one vector per word for token tasks. Texts longer than the model's maximum are cut to their
/// first window; serving scores every window, training reads the first.
/// </summary>
public sealed class FeatureExtractor
{
    private readonly EncoderSession _encoder;
    private readonly WordPieceTokenizer _tokenizer;
    private readonly int _maxLength;
    private readonly int _batchTokens;

    public FeatureExtractor(EncoderSession encoder, WordPieceTokenizer tokenizer, int maxLength, int batchTokens = 8192)
    {
        _encoder = encoder;
        _tokenizer = tokenizer;
        _maxLength = maxLength;
        _batchTokens = batchTokens;
    }

    /// <summary>
    /// Whether the encoder reads case token types (a fine-tuned NER encoder, <see cref="Contracts.EncoderRef.TokenTypes"/>):
    /// then every sequence carries its word shapes into <c>token_type_ids</c>, as serving does.
    /// </summary>
    public bool CaseTypes { get; init; }

    /// <summary>Called after each batch with (done, total).</summary>
    public Action<int, int>? Progress { get; set; }

    public float[][] Sequences(IReadOnlyList<string> texts, IReadOnlyList<int> layers, string pooling, CancellationToken cancellationToken = default)
    {
        var ids = new int[texts.Count][];
        var shapes = CaseTypes ? new float[texts.Count][] : null;
        var tokens = new List<Token>();
        for (var i = 0; i < texts.Count; i++)
        {
            tokens.Clear();
            _tokenizer.Tokenize(texts[i], tokens);
            var count = Math.Min(tokens.Count, _maxLength - 2);
            ids[i] = WithSpecials(tokens, 0, count);
            shapes?[i] = WordShape.ForSequence(texts[i], tokens, 0, count);
        }

        var width = Features.Width(_encoder.HiddenSize, layers.Count);
        var result = new float[texts.Count][];
        RunSorted(ids, (states, row, index) =>
        {
            var vector = new float[width];
            Features.Sequence(states, layers, pooling, row, ids[index].Length, vector);
            result[index] = vector;
        }, shapes, cancellationToken);
        return result;
    }

    /// <summary>
    /// One vector per window of each text, windows planned as serving plans them (<see cref="TokenWindows.Plan"/>, at most
    /// <paramref name="maxWindows"/>; the processor's defaults). Window 0 is what <see cref="Sequences"/> returns, so one
    /// extraction serves both training (first window) and scoring as served (the maximum margin over windows) from cached
    /// features, without running the encoder again for every retrained head.
    /// </summary>
    public float[][][] SequenceWindows(IReadOnlyList<string> texts, IReadOnlyList<int> layers, string pooling, int overlap = 32, int maxWindows = 16, CancellationToken cancellationToken = default)
    {
        var ids = new List<int[]>();
        var shapes = CaseTypes ? new List<float[]>() : null;
        var owner = new List<(int Text, int Window)>();
        var windowCounts = new int[texts.Count];
        var tokens = new List<Token>();
        var windows = new List<(int Start, int Count)>();
        for (var i = 0; i < texts.Count; i++)
        {
            tokens.Clear();
            windows.Clear();
            _tokenizer.Tokenize(texts[i], tokens);
            TokenWindows.Plan(tokens.Count, _maxLength, overlap, windows);
            windowCounts[i] = Math.Min(windows.Count, maxWindows);
            for (var w = 0; w < windowCounts[i]; w++)
            {
                ids.Add(WithSpecials(tokens, windows[w].Start, windows[w].Count));
                shapes?.Add(WordShape.ForSequence(texts[i], tokens, windows[w].Start, windows[w].Count));
                owner.Add((i, w));
            }
        }

        var width = Features.Width(_encoder.HiddenSize, layers.Count);
        var result = new float[texts.Count][][];
        for (var i = 0; i < texts.Count; i++)
        {
            result[i] = new float[windowCounts[i]][];
        }

        var idArray = ids.ToArray();
        RunSorted(idArray, (states, row, index) =>
        {
            var vector = new float[width];
            Features.Sequence(states, layers, pooling, row, idArray[index].Length, vector);
            result[owner[index].Text][owner[index].Window] = vector;
        }, shapes?.ToArray(), cancellationToken);
        return result;
    }

    /// <summary>
    /// Per sentence, the feature vector of each word's first piece (first-subword labelling). Words past the
    /// model's maximum get null (they are skipped in training).
    /// </summary>
    public float[]?[][] Words(IReadOnlyList<IReadOnlyList<string>> sentences, IReadOnlyList<int> layers, bool wordShape = false, CancellationToken cancellationToken = default)
    {
        var ids = new int[sentences.Count][];
        var shapes = CaseTypes ? new float[sentences.Count][] : null;
        var firstPiece = new int[sentences.Count][];
        var tokens = new List<Token>();
        for (var s = 0; s < sentences.Count; s++)
        {
            tokens.Clear();
            _tokenizer.TokenizeWords(sentences[s], tokens);
            var count = Math.Min(tokens.Count, _maxLength - 2);
            ids[s] = WithSpecials(tokens, 0, count);
            shapes?[s] = WordShape.ForSequence(string.Join(' ', sentences[s]), tokens, 0, count);
            var first = new int[sentences[s].Count];
            Array.Fill(first, -1);
            for (var i = count - 1; i >= 0; i--)
            {
                first[tokens[i].Word] = i + 1;
            }

            firstPiece[s] = first;
        }

        var width = Features.Width(_encoder.HiddenSize, layers.Count);
        var total = width + (wordShape ? WordShape.Size : 0);
        var result = new float[]?[sentences.Count][];
        RunSorted(ids, (states, row, index) =>
        {
            var words = firstPiece[index];
            var vectors = new float[]?[words.Length];
            for (var w = 0; w < words.Length; w++)
            {
                if (words[w] >= 0)
                {
                    var vector = new float[total];
                    Features.Token(states, layers, row, words[w], vector.AsSpan(0, width));
                    if (wordShape)
                    {
                        WordShape.Write(sentences[index][w], vector.AsSpan(width));
                    }

                    vectors[w] = vector;
                }
            }

            result[index] = vectors;
        }, shapes, cancellationToken);
        return result;
    }

    private int[] WithSpecials(List<Token> tokens, int start, int count) => TokenWindows.Ids(tokens, start, count, _tokenizer);

    private void RunSorted(int[][] ids, Action<HiddenStates, int, int> read, float[][]? caseShapes, CancellationToken cancellationToken)
    {
        var order = Enumerable.Range(0, ids.Length).OrderBy(i => ids[i].Length).ToArray();
        var done = 0;
        for (var begin = 0; begin < order.Length;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var end = begin;
            while (end < order.Length && (end - begin + 1) * ids[order[end]].Length <= Math.Max(_batchTokens, ids[order[end]].Length))
            {
                end++;
            }

            var length = ids[order[end - 1]].Length;
            using (var batch = new EncoderBatch(end - begin, length))
            {
                for (var r = begin; r < end; r++)
                {
                    batch.SetRow(r - begin, ids[order[r]], caseShapes is null ? default : caseShapes[order[r]]);
                }

                using var states = _encoder.Run(batch);
                for (var r = begin; r < end; r++)
                {
                    read(states, r - begin, order[r]);
                }
            }

            done += end - begin;
            begin = end;
            Progress?.Invoke(done, ids.Length);
        }
    }
}
