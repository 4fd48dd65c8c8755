using System.Text;
using StreamBert.Engine.Tokenization;
using Xunit.Abstractions;

namespace StreamBert.Engine.Tests.Tokenization;

public sealed class WordPieceTokenizerTests(ITestOutputHelper log)
{
    private static WordPieceTokenizer Tokenizer => TokenizerTestData.Tokenizer;

    [Fact]
    public void FromStream_MiniLmVocab_ExposesSpecialIdsAndSize()
    {
        Assert.Equal(101, Tokenizer.ClsId);
        Assert.Equal(102, Tokenizer.SepId);
        Assert.Equal(0, Tokenizer.PadId);
        Assert.Equal(100, Tokenizer.UnkId);
        Assert.Equal(30522, Tokenizer.VocabSize);
        Assert.Equal("[CLS]", Tokenizer.IdToToken(101));
        Assert.Equal("##s", Tokenizer.IdToToken(2015));
    }

    [Fact]
    public void IdToToken_OutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.IdToToken(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.IdToToken(Tokenizer.VocabSize));
    }

    [Fact]
    public void FromStream_MissingSpecialToken_ThrowsInvalidData()
    {
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes("[PAD]\n[UNK]\n[CLS]\nhello\n"));
        Assert.Throws<InvalidDataException>(() => WordPieceTokenizer.FromStream(vocab));
    }

    [Fact]
    public void FromStream_SmallVocab_ReadsLikeReferenceAndSplitsGreedily()
    {
        // CRLF and trailing blanks are trimmed; a repeated entry keeps its later id, as the reference's HashMap does.
        var lines = "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nun \r\n##aff\t\r\n##able\r\nun\r\n##a\r\n";
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes(lines));
        var tokenizer = WordPieceTokenizer.FromStream(vocab);
        var tokens = new List<Token>();

        tokenizer.Tokenize("Unaffable unafx", tokens);

        Assert.Equal(9, tokenizer.VocabSize);
        Assert.Equal(
            [new Token(7, 0, 2, 0), new Token(5, 2, 5, 0), new Token(6, 5, 9, 0), new Token(1, 10, 15, 1)],
            tokens);
    }

    [Fact]
    public void Tokenize_ExistingItems_AppendsWithoutClearing()
    {
        var tokens = new List<Token> { new(1, 2, 3, 4) };

        Tokenizer.Tokenize("hello world", tokens);

        Assert.Equal(new Token(1, 2, 3, 4), tokens[0]);
        Assert.Equal(["hello", "world"], tokens.Skip(1).Select(t => Tokenizer.IdToToken(t.Id)));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \t\r\n\u3000")]
    [InlineData("\u200b\u00ad\u0000\ufeff")]
    public void Tokenize_NothingToTokenize_AddsNothing(string text)
    {
        var tokens = new List<Token>();
        Tokenizer.Tokenize(text, tokens);
        Assert.Empty(tokens);
    }

    [Fact]
    public void Tokenize_AccentsAndDecomposedMarks_OffsetsCoverOriginalCharacters()
    {
        // Precomposed é is one unit, decomposed e + U+0301 two: both normalize to "cafe". As in the reference, a
        // stripped mark after the last letter belongs to no piece (inside a word it is covered by the span).
        Assert.Equal([("cafe", 0, 4, 0), ("cafe", 5, 9, 1), ("zurich", 11, 18, 2)], Pieces("Café cafe\u0301 Zu\u0308rich"));
    }

    [Fact]
    public void Tokenize_RemovedCharactersInsideWord_DoNotSplitIt()
    {
        Assert.Equal([("ab", 0, 3, 0)], Pieces("a\u200bb"));
        Assert.Equal([("ab", 0, 3, 0)], Pieces("a\u0007b"));
    }

    [Fact]
    public void Tokenize_LoneSurrogate_IsDroppedLikeTheReferencesReplacementCharacter()
    {
        Assert.Equal([("ab", 0, 3, 0)], Pieces("a\ud800b"));
        Assert.Equal([("ab", 0, 3, 0)], Pieces("a\udc00b"));
    }

    [Fact]
    public void Tokenize_Emoji_OffsetsAreUtf16CodeUnits()
    {
        Assert.Equal([("a", 0, 1, 0), ("[UNK]", 2, 4, 1), ("b", 5, 6, 2)], Pieces("a 😀 b"));
        Assert.Equal([("[UNK]", 0, 12, 0)], Pieces("👍🏽👨‍👩‍👧")); // skin tone and ZWJ sequence: one word
    }

    [Fact]
    public void Tokenize_CjkAndPunctuation_AreWordsOfTheirOwn()
    {
        Assert.Equal(
            [("中", 0, 1, 0), ("文", 1, 2, 1), ("u", 2, 3, 2), (".", 3, 4, 3), ("s", 4, 5, 4), (".", 5, 6, 5)],
            Pieces("中文U.S."));
    }

    [Fact]
    public void Tokenize_HangulSyllable_PiecesShareTheSyllablesRange()
    {
        Assert.Equal([("ᄀ", 0, 1, 0), ("##ᅡ", 0, 1, 0), ("##ᆨ", 0, 1, 0)], Pieces("각"));
    }

    [Fact]
    public void Tokenize_LiteralSpecialTokens_AreTokenizedAsText()
    {
        Assert.Equal(["[", "sep", "]", "[", "cl", "##s", "]"], Pieces("[SEP][CLS]").Select(p => p.Piece));
    }

    [Fact]
    public void Tokenize_WordOver100Characters_IsOneUnkOverTheWholeWord()
    {
        var limit = new string('a', WordPieceTokenizer.MaxInputCharsPerWord);
        Assert.DoesNotContain(Pieces(limit), p => p.Piece == "[UNK]");
        Assert.Equal([("[UNK]", 0, 101, 0), ("x", 102, 103, 1)], Pieces(limit + "a x"));
        // The limit counts normalized code points: 101 emoji are 202 UTF-16 units.
        Assert.Equal([("[UNK]", 0, 202, 0)], Pieces(string.Concat(Enumerable.Repeat("😀", 101))));
    }

    [Fact]
    public void TokenizeWords_PreSplitWords_OffsetsRelativeToJoinedTextAndWordIsInputIndex()
    {
        var tokens = new List<Token>();

        Tokenizer.TokenizeWords(["Hello", "", "wörld!", "U.S."], tokens);

        Assert.Equal(
            [new Token(7592, 0, 5, 0), new Token(2088, 7, 12, 2), new Token(999, 12, 13, 2),
             new Token(1057, 14, 15, 3), new Token(1012, 15, 16, 3), new Token(1055, 16, 17, 3), new Token(1012, 17, 18, 3)],
            tokens);
    }

    [Fact]
    public void TokenizeWords_ConllSentences_EqualTokenizeOfJoinedText()
    {
        // Space separates pre-tokens, so tokenizing words one by one must give the joined text's pieces.
        var path = TokenizerTestData.SharedDataPath(Path.Combine("ner", "conll2003_valid.txt"));
        if (path is null)
        {
            log.WriteLine("shared/data/ner/conll2003_valid.txt not found: check skipped.");
            return;
        }

        var sentences = 0;
        var byWords = new List<Token>();
        var joined = new List<Token>();
        foreach (var words in ConllSentences(path))
        {
            byWords.Clear();
            joined.Clear();
            Tokenizer.TokenizeWords(words, byWords);
            Tokenizer.Tokenize(string.Join(' ', words), joined);

            Assert.Equal(joined.Select(t => (t.Id, t.Start, t.End)), byWords.Select(t => (t.Id, t.Start, t.End)));
            var starts = WordStarts(words);
            Assert.All(byWords, t => Assert.InRange(t.Start, starts[t.Word], starts[t.Word] + words[t.Word].Length));
            sentences++;
        }

        log.WriteLine($"{sentences} CoNLL sentences: TokenizeWords == Tokenize(joined)");
        Assert.True(sentences > 3000);
    }

    [Fact]
    public void Tokenize_SteadyState_AllocatesNothing()
    {
        string[] texts = [.. TokenizerTestData.Fixture.Cases.Where(c => c.Text is not null).Select(c => c.Text!)];
        var tokens = new List<Token>(1 << 16);

        // The first passes may run unoptimized (tier-0) code and fill static tables and array pool buckets; a
        // pass that allocates nothing shows the steady state does not. Real per-call allocations fail every pass.
        var allocated = long.MaxValue;
        for (var pass = 0; pass < 10 && allocated > 0; pass++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            RunAll();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(0, allocated);

        void RunAll()
        {
            foreach (var text in texts)
            {
                tokens.Clear();
                Tokenizer.Tokenize(text, tokens);
            }
        }
    }

    [Fact]
    public void Tokenize_ConcurrentCalls_GiveSameTokensAsSequential()
    {
        string[] texts = [.. TokenizerTestData.Fixture.Cases.Where(c => c.Text is not null).Select(c => c.Text!)];
        var sequential = texts.Select(Tokens).ToArray();
        var parallel = new List<Token>[texts.Length];

        Parallel.For(0, texts.Length, i => parallel[i] = Tokens(texts[i]));

        Assert.All(Enumerable.Range(0, texts.Length), i => Assert.Equal(sequential[i], parallel[i]));
    }

    private static List<Token> Tokens(string text)
    {
        var tokens = new List<Token>();
        Tokenizer.Tokenize(text, tokens);
        return tokens;
    }

    private static List<(string Piece, int Start, int End, int Word)> Pieces(string text) =>
        [.. Tokens(text).Select(t => (Tokenizer.IdToToken(t.Id), t.Start, t.End, t.Word))];

    private static int[] WordStarts(IReadOnlyList<string> words)
    {
        var starts = new int[words.Count];
        for (var i = 1; i < words.Count; i++)
        {
            starts[i] = starts[i - 1] + words[i - 1].Length + 1;
        }

        return starts;
    }

    private static IEnumerable<List<string>> ConllSentences(string path)
    {
        var words = new List<string>();
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith("-DOCSTART-", StringComparison.Ordinal))
            {
                continue;
            }

            if (line.Length == 0)
            {
                if (words.Count > 0)
                {
                    yield return words;
                    words = [];
                }

                continue;
            }

            words.Add(line[..line.IndexOf(' ', StringComparison.Ordinal)]);
        }

        if (words.Count > 0)
        {
            yield return words;
        }
    }
}
