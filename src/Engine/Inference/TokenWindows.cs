namespace StreamBert.Engine.Inference;

/// <summary>
/// Splits a token sequence longer than the model's maximum into overlapping windows. Each window holds at
/// most <c>maxLength - 2</c> word pieces ([CLS] and [SEP] take two); consecutive windows overlap by
/// <c>overlap</c> pieces so every token is seen with context on both sides in some window.
/// </summary>
public static class TokenWindows
{
    /// <summary>Appends <c>(start, count)</c> ranges over <paramref name="tokenCount"/> pieces.</summary>
    public static void Plan(int tokenCount, int maxLength, int overlap, List<(int Start, int Count)> output)
    {
        var capacity = maxLength - 2;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegative(overlap);
        overlap = Math.Min(overlap, capacity / 2);
        if (tokenCount <= capacity)
        {
            output.Add((0, tokenCount));
            return;
        }

        var stride = capacity - overlap;
        for (var start = 0; ; start += stride)
        {
            var count = Math.Min(capacity, tokenCount - start);
            output.Add((start, count));
            if (start + count >= tokenCount)
            {
                return;
            }
        }
    }

    /// <summary>
    /// For a token at <paramref name="index"/> covered by several windows, the window where it sits farthest
    /// from an edge: its prediction had the most context.
    /// </summary>
    public static int BestWindowFor(int index, IReadOnlyList<(int Start, int Count)> windows)
    {
        var best = -1;
        var bestMargin = int.MinValue;
        for (var w = 0; w < windows.Count; w++)
        {
            var (start, count) = windows[w];
            if (index < start || index >= start + count)
            {
                continue;
            }

            var margin = Math.Min(index - start, start + count - 1 - index);
            if (margin > bestMargin)
            {
                best = w;
                bestMargin = margin;
            }
        }

        return best;
    }

    /// <summary>Encoder input ids for pieces [start, start+count): [CLS] pieces [SEP].</summary>
    public static int[] Ids(List<Tokenization.Token> tokens, int start, int count, Tokenization.WordPieceTokenizer tokenizer)
    {
        var ids = new int[count + 2];
        ids[0] = tokenizer.ClsId;
        for (var i = 0; i < count; i++)
        {
            ids[i + 1] = tokens[start + i].Id;
        }

        ids[^1] = tokenizer.SepId;
        return ids;
    }
}
