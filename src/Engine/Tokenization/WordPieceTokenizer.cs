using System.Text;

namespace StreamBert.Engine.Tokenization;

/// <summary>
/// BERT uncased WordPiece tokenizer with exact character offsets into the original text. Reproduces Hugging
/// Face <c>tokenizers</c>: <c>BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase)</c>,
/// <c>BertPreTokenizer</c>, then greedy longest-match-first <c>WordPiece</c> with the <c>##</c> continuation
/// prefix, <c>[UNK]</c> for a word with no full segmentation or longer than
/// <see cref="MaxInputCharsPerWord"/> characters.
/// </summary>
/// <remarks>
/// <para>
/// Offsets (<see cref="Token.Start"/>, <see cref="Token.End"/>) are UTF-16 code units into the string passed in
/// (Hugging Face's Node and Python bindings count Unicode scalar values, its Rust API bytes; the golden
/// fixtures are converted). A piece spans from the first to the last original character it came from, so
/// characters that normalization drops are inside a span only between kept ones: in <c>"cafe\u0301"</c>
/// (decomposed é) the piece is <c>[0, 4)</c>, as in the reference.
/// </para>
/// <para>
/// Character data (categories, case, NFD) is a table generated from the reference
/// (tools/tokenizer-golden), not .NET's, so ids do not change with the runtime's Unicode version and NFD works
/// under InvariantGlobalization.
/// </para>
/// <para>
/// Differences from a full Hugging Face BERT <c>tokenizer.json</c>: no added tokens, so a literal
/// <c>"[SEP]"</c> in the text is tokenized as text (<c>[</c>, <c>sep</c>, <c>]</c>) rather than becoming the
/// separator — input text cannot forge special tokens; no <c>[CLS]</c>/<c>[SEP]</c>, truncation or padding
/// (the caller adds them with <see cref="ClsId"/> and <see cref="SepId"/>).
/// </para>
/// <para>
/// Thread-safe: the instance is immutable after construction and each call works on stack buffers, so one
/// tokenizer can serve every stage. A call allocates nothing beyond growth of the caller's list (about
/// 4–5 M tokens/s on one core of the development machine).
/// </para>
/// </remarks>
public sealed class WordPieceTokenizer
{
    /// <summary>Words with more characters (after normalization) than this become a single <c>[UNK]</c>.</summary>
    public const int MaxInputCharsPerWord = 100;

    private const string ContinuationPrefix = "##";

    // A word is buffered only while it may still be split into pieces: at most MaxInputCharsPerWord code
    // points, each one or two UTF-16 units. Two leading slots hold the "##" of a continuation lookup.
    private const int WordBufferUnits = 2 * MaxInputCharsPerWord;

    private readonly string[] _tokens;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocab;

    // No vocabulary entry is longer, so longer candidates are skipped without hashing them.
    private readonly int _maxEntryLength;

    private WordPieceTokenizer(string[] tokens, Dictionary<string, int> vocab)
    {
        _tokens = tokens;
        _vocab = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var token in tokens)
        {
            _maxEntryLength = Math.Max(_maxEntryLength, token.Length);
        }

        ClsId = Require(vocab, "[CLS]");
        SepId = Require(vocab, "[SEP]");
        PadId = Require(vocab, "[PAD]");
        UnkId = Require(vocab, "[UNK]");
    }

    /// <summary>Id of <c>[CLS]</c>.</summary>
    public int ClsId { get; }

    /// <summary>Id of <c>[SEP]</c>.</summary>
    public int SepId { get; }

    /// <summary>Id of <c>[PAD]</c>.</summary>
    public int PadId { get; }

    /// <summary>Id of <c>[UNK]</c>.</summary>
    public int UnkId { get; }

    /// <summary>Number of vocabulary lines (ids are <c>0 .. VocabSize - 1</c>).</summary>
    public int VocabSize => _tokens.Length;

    /// <summary>Loads a BERT <c>vocab.txt</c> (one token per line; the line number is the id).</summary>
    public static WordPieceTokenizer FromFile(string vocabPath)
    {
        using var stream = File.OpenRead(vocabPath);
        return FromStream(stream);
    }

    /// <summary>Reads a BERT <c>vocab.txt</c> from a stream, which is left open.</summary>
    /// <exception cref="InvalidDataException">The vocabulary lacks [CLS], [SEP], [PAD] or [UNK].</exception>
    public static WordPieceTokenizer FromStream(Stream vocab)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        using var reader = new StreamReader(
            vocab, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);
        var tokens = new List<string>(32 * 1024);
        var ids = new Dictionary<string, int>(32 * 1024, StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            // As WordPiece::read_file in the reference: trailing whitespace trimmed, a repeated entry keeps the
            // later id.
            var token = line.TrimEnd();
            ids[token] = tokens.Count;
            tokens.Add(token);
        }

        return new WordPieceTokenizer([.. tokens], ids);
    }

    /// <summary>The vocabulary entry of <paramref name="id"/> (continuation pieces keep their <c>##</c>).</summary>
    public string IdToToken(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, _tokens.Length);
        return _tokens[id];
    }

    /// <summary>
    /// Appends the word pieces of <paramref name="text"/> to <paramref name="output"/> (no <c>[CLS]</c>/<c>[SEP]</c>).
    /// The list is not cleared, so the caller can reuse one list and avoid allocating per call.
    /// </summary>
    public void Tokenize(ReadOnlySpan<char> text, List<Token> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        TokenizeCore(text, output, offsetBase: 0, fixedWord: -1);
    }

    /// <summary>
    /// Tokenizes pre-split words (e.g. CoNLL tokens) as Hugging Face's <c>is_split_into_words</c> does: each word
    /// on its own, every piece tagged with the index of its word in <paramref name="words"/> (a word may give
    /// several pre-tokens, e.g. <c>"U.S."</c>, or none). Offsets are relative to <c>string.Join(' ', words)</c>.
    /// </summary>
    public void TokenizeWords(IReadOnlyList<string> words, List<Token> output)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(output);
        var offset = 0;
        for (var w = 0; w < words.Count; w++)
        {
            var word = words[w] ?? throw new ArgumentException($"words[{w}] is null.", nameof(words));
            TokenizeCore(word, output, offset, w);
            offset += word.Length + 1;
        }
    }

    private static int Require(Dictionary<string, int> vocab, string token) =>
        vocab.TryGetValue(token, out var id)
            ? id
            : throw new InvalidDataException($"The vocabulary has no {token} entry.");

    /// <param name="offsetBase">Added to every offset (position of this text in a joined string).</param>
    /// <param name="fixedWord">Word index for every piece, or -1 to number the pre-tokens from 0.</param>
    private void TokenizeCore(ReadOnlySpan<char> text, List<Token> output, int offsetBase, int fixedWord)
    {
        var word = new WordBuffer(
            stackalloc char[ContinuationPrefix.Length + WordBufferUnits],
            stackalloc int[WordBufferUnits],
            stackalloc int[WordBufferUnits]);
        Span<int> expansion = stackalloc int[BertCharTable.MaxExpansion];
        var wordIndex = fixedWord < 0 ? 0 : fixedWord;

        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            int cp = text[i++];
            if (char.IsHighSurrogate((char)cp) && i < text.Length && char.IsLowSurrogate(text[i]))
            {
                cp = char.ConvertToUtf32((char)cp, text[i++]);
            }

            // A lone surrogate stays a surrogate code point; the table removes it, as the reference removes the
            // U+FFFD it receives in its place.
            var entry = BertCharTable.Lookup(cp);
            var from = offsetBase + start;
            var to = offsetBase + i;
            switch (BertCharTable.KindOf(entry))
            {
                case BertCharKind.Word:
                    word.Add(cp + BertCharTable.ValueOf(entry), from, to);
                    break;
                case BertCharKind.Removed or BertCharKind.Dropped:
                    break;
                case BertCharKind.Space:
                    EndWord(ref word, output, ref wordIndex, fixedWord);
                    break;
                case BertCharKind.Isolated:
                    EndWord(ref word, output, ref wordIndex, fixedWord);
                    word.Add(cp + BertCharTable.ValueOf(entry), from, to);
                    EndWord(ref word, output, ref wordIndex, fixedWord);
                    break;
                case BertCharKind.Reorder:
                    i = CombiningRun.Append(text, start, offsetBase, ref word);
                    break;
                default:
                    var count = BertCharTable.Expand(cp, entry, expansion);
                    for (var k = 0; k < count; k++)
                    {
                        word.Add(expansion[k], from, to);
                    }

                    break;
            }
        }

        EndWord(ref word, output, ref wordIndex, fixedWord);
    }

    private void EndWord(ref WordBuffer word, List<Token> output, ref int wordIndex, int fixedWord)
    {
        if (word.CodePoints == 0)
        {
            return;
        }

        AppendPieces(ref word, output, wordIndex);
        word.Clear();
        if (fixedWord < 0)
        {
            wordIndex++;
        }
    }

    // Greedy longest-match-first, exactly as the reference: at each position take the longest vocabulary
    // entry (with "##" after the first piece); if some position has none, the whole word is one [UNK].
    private void AppendPieces(ref WordBuffer word, List<Token> output, int wordIndex)
    {
        if (word.CodePoints > MaxInputCharsPerWord)
        {
            output.Add(new Token(UnkId, word.FirstStart, word.LastEnd, wordIndex));
            return;
        }

        var units = word.Units; // units[0..2) are the prefix slots; the word starts at units[2]
        var length = word.Length;
        var firstPiece = output.Count;
        var pos = 0;
        while (pos < length)
        {
            var prefix = pos == 0 ? 0 : ContinuationPrefix.Length;
            if (prefix != 0)
            {
                // Write "##" over the two units before pos: they belong to pieces already emitted, so the
                // candidate "##" + word[pos..end] is one contiguous span and no string is built per lookup.
                units[pos] = '#';
                units[pos + 1] = '#';
            }

            var end = Math.Min(length, pos + _maxEntryLength - prefix);
            if (end < length && char.IsLowSurrogate(units[2 + end]))
            {
                end--; // never split a surrogate pair
            }

            var id = -1;
            while (end > pos)
            {
                if (_vocab.TryGetValue(units.Slice(2 + pos - prefix, end - pos + prefix), out id))
                {
                    break;
                }

                id = -1;
                end -= end - 1 > pos && char.IsLowSurrogate(units[2 + end - 1]) ? 2 : 1;
            }

            if (id < 0)
            {
                output.RemoveRange(firstPiece, output.Count - firstPiece);
                output.Add(new Token(UnkId, word.FirstStart, word.LastEnd, wordIndex));
                return;
            }

            output.Add(new Token(id, word.Starts[pos], word.Ends[end - 1], wordIndex));
            pos = end;
        }
    }
}
