namespace StreamBert.Engine.Decoding;

/// <summary>An entity over words <c>[StartWord, EndWord)</c> with the mean probability of its words' tags.</summary>
public readonly record struct WordSpan(int StartWord, int EndWord, string Type, float Score);

/// <summary>
/// Turns one BIO tag per word into entity spans, repairing invalid sequences the way annotators read
/// them: an <c>I-X</c> with no open <c>X</c> entity (after <c>O</c> or another type) starts a new entity.
/// </summary>
public static class BioDecoder
{
    /// <param name="tags">Tag index per word into <paramref name="labels"/> (e.g. O, B-PER, I-PER, …).</param>
    /// <param name="probabilities">Probability of the chosen tag per word.</param>
    public static void Decode(ReadOnlySpan<int> tags, ReadOnlySpan<float> probabilities, IReadOnlyList<string> labels, List<WordSpan> output)
    {
        var start = -1;
        string? type = null;
        var sum = 0f;
        for (var w = 0; w < tags.Length; w++)
        {
            var label = labels[tags[w]];
            var isBegin = label.StartsWith("B-", StringComparison.Ordinal);
            var isInside = label.StartsWith("I-", StringComparison.Ordinal);
            var labelType = isBegin || isInside ? label[2..] : null;
            var continues = isInside && type is not null && labelType == type;
            if (!continues && type is not null)
            {
                output.Add(new WordSpan(start, w, type, sum / (w - start)));
                type = null;
            }

            if (labelType is not null && !continues)
            {
                start = w;
                type = labelType;
                sum = 0f;
            }

            if (type is not null)
            {
                sum += probabilities[w];
            }
        }

        if (type is not null)
        {
            output.Add(new WordSpan(start, tags.Length, type, sum / (tags.Length - start)));
        }
    }
}
