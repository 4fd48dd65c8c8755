namespace StreamBert.Engine.Decoding;

/// <summary>
/// The most probable tag sequence among the valid BIO (IOB2) ones: <c>I-X</c> only right after <c>B-X</c> or
/// <c>I-X</c>. Picking each word's best tag alone yields sequences such as <c>O I-PER</c> or <c>B-ORG I-LOC</c>,
/// which <see cref="BioDecoder"/> can only repair by guessing; here the next-best valid reading wins instead.
/// </summary>
/// <remarks>
/// Scores are the sum of log-probabilities of the chosen tags (a first-order model with hard 0/−∞ transitions), so a
/// sequence of per-word argmaxes that is already valid is returned unchanged.
/// </remarks>
public sealed class BioViterbi
{
    private const float Floor = 1e-12f;
    private readonly int _tagCount;

    // _allowed[previous * tagCount + next]; row _tagCount is the sentence start.
    private readonly bool[] _allowed;

    public BioViterbi(IReadOnlyList<string> labels)
    {
        ArgumentOutOfRangeException.ThrowIfZero(labels.Count);
        _tagCount = labels.Count;
        _allowed = new bool[(_tagCount + 1) * _tagCount];
        for (var previous = 0; previous <= _tagCount; previous++)
        {
            var previousType = previous < _tagCount ? EntityType(labels[previous]) : null;
            for (var next = 0; next < _tagCount; next++)
            {
                var label = labels[next];
                _allowed[(previous * _tagCount) + next] = !label.StartsWith("I-", StringComparison.Ordinal) || previousType == label[2..];
            }
        }
    }

    /// <summary>Fills <paramref name="tags"/> with the best valid tag index of each word.</summary>
    /// <param name="probabilities">Row-major [words, tags] probabilities.</param>
    /// <param name="tags">One entry per word.</param>
    public void Decode(ReadOnlySpan<float> probabilities, Span<int> tags)
    {
        var words = tags.Length;
        if (probabilities.Length != words * _tagCount)
        {
            throw new ArgumentException($"Expected {words} × {_tagCount} probabilities, got {probabilities.Length}.", nameof(probabilities));
        }

        if (words == 0)
        {
            return;
        }

        var score = new float[_tagCount];
        var nextScore = new float[_tagCount];
        var back = new int[words * _tagCount];
        for (var t = 0; t < _tagCount; t++)
        {
            score[t] = _allowed[(_tagCount * _tagCount) + t] ? MathF.Log(Math.Max(probabilities[t], Floor)) : float.NegativeInfinity;
        }

        for (var w = 1; w < words; w++)
        {
            var row = probabilities.Slice(w * _tagCount, _tagCount);
            for (var next = 0; next < _tagCount; next++)
            {
                var best = -1;
                var bestScore = float.NegativeInfinity;
                for (var previous = 0; previous < _tagCount; previous++)
                {
                    if (_allowed[(previous * _tagCount) + next] && score[previous] > bestScore)
                    {
                        best = previous;
                        bestScore = score[previous];
                    }
                }

                // Every tag is reachable from O (or B-X for I-X), so best is found unless all scores are −∞.
                back[(w * _tagCount) + next] = Math.Max(best, 0);
                nextScore[next] = bestScore + MathF.Log(Math.Max(row[next], Floor));
            }

            (score, nextScore) = (nextScore, score);
        }

        var last = 0;
        for (var t = 1; t < _tagCount; t++)
        {
            if (score[t] > score[last])
            {
                last = t;
            }
        }

        for (var w = words - 1; w >= 0; w--)
        {
            tags[w] = last;
            last = back[(w * _tagCount) + last];
        }
    }

    private static string? EntityType(string label) =>
        label.StartsWith("B-", StringComparison.Ordinal) || label.StartsWith("I-", StringComparison.Ordinal) ? label[2..] : null;
}
