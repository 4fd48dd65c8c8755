namespace StreamBert.Engine.Inference;

/// <summary>
/// Orthographic features of a word, appended to token features for NER: the encoder is uncased
/// (its tokenizer lower-cases), so "Apple" and "apple" look identical to it, while capitalisation is
/// the strongest single cue for a name in news text (classic feature-based NER uses the same shape cues).
/// </summary>
public static class WordShape
{
    public const int Size = 5;

    /// <summary>
    /// Token types of an encoder fine-tuned with case types (<see cref="Contracts.EncoderRef.CaseTokenTypes"/>):
    /// 0 = no capital (what the pretrained model always saw), 1 = initial capital, 2 = all capitals.
    /// </summary>
    public const int CaseTypeCount = 3;

    /// <summary>The case token type of a piece from its <see cref="Size"/> shape features.</summary>
    public static long CaseType(ReadOnlySpan<float> shape) => shape[1] > 0 ? 2 : shape[0] > 0 ? 1 : 0;

    /// <summary>Case token types of a sequence from its shapes (<see cref="ForSequence"/>), one per position.</summary>
    public static void WriteCaseTypes(ReadOnlySpan<float> shapes, Span<long> destination)
    {
        var positions = shapes.Length / Size;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(positions, destination.Length);
        for (var p = 0; p < positions; p++)
        {
            destination[p] = CaseType(shapes.Slice(p * Size, Size));
        }
    }

    /// <summary>Writes [initial capital, all capitals, has a digit, all lower case, no letter at all].</summary>
    public static void Write(ReadOnlySpan<char> word, Span<float> destination)
    {
        var letters = 0;
        var upper = 0;
        var lower = 0;
        var digits = 0;
        foreach (var c in word)
        {
            if (char.IsLetter(c))
            {
                letters++;
                if (char.IsUpper(c))
                {
                    upper++;
                }
                else if (char.IsLower(c))
                {
                    lower++;
                }
            }
            else if (char.IsDigit(c))
            {
                digits++;
            }
        }

        var first = word.Length > 0 && char.IsUpper(word[0]);
        destination[0] = first ? 1f : 0f;
        destination[1] = letters > 1 && upper == letters ? 1f : 0f;
        destination[2] = digits > 0 ? 1f : 0f;
        destination[3] = letters > 0 && lower == letters ? 1f : 0f;
        destination[4] = letters == 0 ? 1f : 0f;
    }

    /// <summary>
    /// Shapes for an encoder sequence over <paramref name="tokens"/>[start, start+count): each piece gets
    /// the shape of its whole word (all pieces sharing its <c>Word</c>), [CLS] and [SEP] rows stay zero.
    /// </summary>
    public static float[] ForSequence(ReadOnlySpan<char> text, List<Tokenization.Token> tokens, int start, int count)
    {
        var shapes = new float[(count + 2) * Size];
        Span<float> shape = stackalloc float[Size];
        var i = start;
        while (i < start + count)
        {
            // Extend over the word's pieces, including ones outside the window, so the shape is the word's.
            var word = tokens[i].Word;
            var first = i;
            while (first > 0 && tokens[first - 1].Word == word)
            {
                first--;
            }

            var last = i;
            while (last + 1 < tokens.Count && tokens[last + 1].Word == word)
            {
                last++;
            }

            Write(text[tokens[first].Start..tokens[last].End], shape);
            for (var p = i; p <= Math.Min(last, start + count - 1); p++)
            {
                shape.CopyTo(shapes.AsSpan((p - start + 1) * Size, Size));
            }

            i = last + 1;
        }

        return shapes;
    }
}
