using System.Text;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Tests.Tokenization;

/// <summary>Invariants of the offsets on generated text (no reference needed, so any string can be tried).</summary>
public sealed class WordPieceTokenizerPropertyTests
{
    private static WordPieceTokenizer Tokenizer => TokenizerTestData.Tokenizer;

    // Pools that hit every path: vocabulary words, accents (precomposed and combining), removed and dropped
    // characters, whitespace of all kinds, punctuation, CJK, Hangul, emoji (surrogate pairs, ZWJ, skin tones),
    // lone surrogates, and long runs that cross the 100-character limit.
    private static readonly string[] Fragments =
    [
        "the", "un", "##", "affable", "news", "bank", "run", "ning", "Zürich", "café", "naïve", "İ", "ẞ", "ﬁ",
        "e\u0301", "a\u0308\u0301", "\u0301", "\u0316\u0301", "\u200b", "\u200d", "\u00ad", "\u0000", "\u0007",
        "\ufeff", "\ufffd", " ", " ", " ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", ".", ",", "!", "?",
        "$", "-", "'", "\"", "(", ")", "…", "—", "«", "»", "中", "文", "豈", "𠀀", "각", "한국", "😀", "👍🏽",
        "👨‍👩‍👧", "🇺🇸", "\ud800", "\udc00", "3.5", "12,000", "@", "e-mail", "ΟΔΟΣ", "Привет", "مرحبا",
        "x", "y", "z",
    ];

    [Fact]
    public void Tokenize_GeneratedText_OffsetsAreConsistent()
    {
        var random = new Random(20240601);
        var tokens = new List<Token>();
        var text = new StringBuilder();
        for (var iteration = 0; iteration < 3000; iteration++)
        {
            text.Clear();
            var parts = random.Next(1, 30);
            for (var p = 0; p < parts; p++)
            {
                var fragment = Fragments[random.Next(Fragments.Length)];
                text.Append(random.Next(40) == 0 ? string.Concat(Enumerable.Repeat(fragment, random.Next(20, 120))) : fragment);
            }

            var s = text.ToString();
            tokens.Clear();
            Tokenizer.Tokenize(s, tokens);
            CheckInvariants(s, tokens);
        }
    }

    private static void CheckInvariants(string text, List<Token> tokens)
    {
        var word = -1;
        var wordStart = 0;
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            var index = i;
            string Context() => $"text {Escape(text)}, token {index} {t}";

            // In range, non-empty, and never inside a surrogate pair.
            Check(t.Start >= 0 && t.Start < t.End && t.End <= text.Length, Context);
            Check(!SplitsPair(text, t.Start) && !SplitsPair(text, t.End), Context);

            if (t.Word != word)
            {
                // Words are numbered 0, 1, 2, ... and do not overlap.
                Check(t.Word == word + 1, Context);
                if (i > 0)
                {
                    Check(tokens[i - 1].End <= t.Start, Context);
                    CheckWord(text, tokens, wordStart, i);
                }

                word = t.Word;
                wordStart = i;
                continue;
            }

            // Pieces of a word are ordered and do not overlap, except inside one source character that
            // normalizes to several (a Hangul syllable into jamo): there the pieces share its range.
            var previous = tokens[i - 1];
            Check(previous.Start <= t.Start && previous.End <= t.End, Context);
            Check(previous.End <= t.Start || ExpandsToSeveral(text, t.Start, previous.End), Context);
        }

        if (tokens.Count > 0)
        {
            CheckWord(text, tokens, wordStart, tokens.Count);
        }
    }

    // Source text of a word normalizes to its pieces joined; each piece's own source text normalizes to the piece
    // (to a string that contains it, where the piece starts or ends inside an expanded character).
    private static void CheckWord(string text, List<Token> tokens, int first, int end)
    {
        if (tokens[first].Id == Tokenizer.UnkId)
        {
            Check(end - first == 1, () => $"text {Escape(text)}: [UNK] shares its word"); // [UNK] stands for the whole word
            return;
        }

        var joined = new StringBuilder();
        for (var i = first; i < end; i++)
        {
            var t = tokens[i];
            var piece = Tokenizer.IdToToken(t.Id);
            piece = i > first ? piece[2..] : piece;
            joined.Append(piece);
            var source = Normalize(text.AsSpan(t.Start, t.End - t.Start));
            var sharedBefore = i > first && tokens[i - 1].End > t.Start;
            var sharedAfter = i + 1 < end && tokens[i + 1].Start < t.End;
            Check(
                (sharedBefore, sharedAfter) switch
                {
                    (false, false) => source == piece,
                    (true, false) => source.EndsWith(piece, StringComparison.Ordinal),
                    (false, true) => source.StartsWith(piece, StringComparison.Ordinal),
                    _ => source.Contains(piece, StringComparison.Ordinal),
                },
                () => $"text {Escape(text)}, piece {piece} [{t.Start},{t.End}) from {Escape(source)}");
        }

        var whole = Normalize(text.AsSpan(tokens[first].Start, tokens[end - 1].End - tokens[first].Start));
        Check(whole == joined.ToString(), () => $"text {Escape(text)}: word source {Escape(whole)} != pieces {Escape(joined.ToString())}");
    }

    // Per-code-point normalization straight from the table (the golden tests check the table against the reference).
    private static string Normalize(ReadOnlySpan<char> source)
    {
        var result = new StringBuilder();
        Span<int> expanded = stackalloc int[BertCharTable.MaxExpansion];
        for (var i = 0; i < source.Length;)
        {
            var cp = CodePointAt(source, i, out var length);
            i += length;
            var entry = BertCharTable.Lookup(cp);
            switch (BertCharTable.KindOf(entry))
            {
                case BertCharKind.Word or BertCharKind.Isolated:
                    result.Append(char.ConvertFromUtf32(cp + BertCharTable.ValueOf(entry)));
                    break;
                case BertCharKind.Multi or BertCharKind.Hangul:
                    var n = BertCharTable.Expand(cp, entry, expanded);
                    for (var k = 0; k < n; k++)
                    {
                        result.Append(char.ConvertFromUtf32(expanded[k]));
                    }

                    break;
                case BertCharKind.Reorder:
                    throw new InvalidOperationException("Reorder code points are covered by the golden fixture, not generated here.");
            }
        }

        return result.ToString();
    }

    private static bool ExpandsToSeveral(string text, int start, int end)
    {
        var cp = CodePointAt(text, start, out var length);
        var kind = BertCharTable.KindOf(BertCharTable.Lookup(cp));
        return start + length == end && kind is BertCharKind.Multi or BertCharKind.Hangul;
    }

    private static int CodePointAt(ReadOnlySpan<char> s, int i, out int length)
    {
        if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            length = 2;
            return char.ConvertToUtf32(s[i], s[i + 1]);
        }

        length = 1;
        return s[i];
    }

    // Assert with a message built only on failure: the messages serialize the text, too slow for every token.
    private static void Check(bool condition, Func<string> message)
    {
        if (!condition)
        {
            Assert.Fail(message());
        }
    }

    private static bool SplitsPair(string text, int index) =>
        index > 0 && index < text.Length && char.IsHighSurrogate(text[index - 1]) && char.IsLowSurrogate(text[index]);

    private static string Escape(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
