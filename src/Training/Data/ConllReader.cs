namespace StreamBert.Training.Data;

/// <summary>One sentence of a NER data set: its tokens and their BIO (IOB2) tags, index for index.</summary>
/// <param name="Tokens">Tokens as written in the file.</param>
/// <param name="Tags"><c>O</c>, <c>B-TYPE</c> or <c>I-TYPE</c> per token; an <c>I-</c> tag always continues an entity of its type.</param>
public sealed record NerSentence(IReadOnlyList<string> Tokens, IReadOnlyList<string> Tags);

/// <summary><see cref="ReadReport"/> of a CoNLL file, with document and tag counts.</summary>
public sealed class ConllReadReport : ReadReport
{
    /// <summary><c>-DOCSTART-</c> lines seen.</summary>
    public long Documents { get; internal set; }

    /// <summary>Tokens in the sentences produced.</summary>
    public long Tokens { get; internal set; }

    /// <summary>Tags changed from <c>I-X</c> to <c>B-X</c> because they started an entity (IOB1 input).</summary>
    public long TagsConvertedToBio { get; internal set; }
}

/// <summary>
/// Reads CoNLL column files (CoNLL-2003: <c>token POS chunk NER</c>; Wikigold: <c>token NER</c>) as <see cref="NerSentence"/>s, streaming.
/// </summary>
/// <remarks>
/// <para>Columns are separated by spaces or TABs. The token is the first column and the NER tag the last;
/// the columns between are ignored. Blank lines end a sentence; a line whose token is <c>-DOCSTART-</c> ends
/// one too and counts a document.</para>
/// <para>Tags must be <c>O</c>, <c>B-TYPE</c> or <c>I-TYPE</c>. Input in IO (Wikigold: no <c>B-</c> at all) or IOB1 (where <c>I-</c> starts an entity and
/// <c>B-</c> appears only between two adjacent entities of one type) is converted to BIO: an <c>I-X</c> not preceded by
/// <c>B-X</c> or <c>I-X</c> becomes <c>B-X</c>. On BIO input this changes nothing.</para>
/// <para>A sentence with a malformed line (one column only, or an unknown tag) is skipped whole, since dropping one token
/// would silently change the context of the others; the skip is counted per sentence, with the first bad line.</para>
/// </remarks>
public static class ConllReader
{
    /// <summary>The token that marks a document boundary.</summary>
    public const string DocStart = "-DOCSTART-";

    private static readonly char[] Separators = [' ', '\t'];

    /// <summary>Reads a CoNLL file; see <see cref="ConllReader"/>.</summary>
    /// <param name="path">File to read (UTF-8).</param>
    /// <param name="report">Filled with counts while the result is enumerated.</param>
    public static IEnumerable<NerSentence> Read(string path, ConllReadReport? report = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return ReadFile(path, report ?? new ConllReadReport());
    }

    /// <summary>Reads CoNLL text from a reader; see <see cref="ConllReader"/>.</summary>
    public static IEnumerable<NerSentence> Read(TextReader reader, ConllReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return ReadLines(reader, report ?? new ConllReadReport()).Select(s => s.Sentence);
    }

    /// <summary>
    /// Reads a CoNLL file as documents: the sentences between two <c>-DOCSTART-</c> lines (or the file's start or end).
    /// Works whether the marker opens each document (CoNLL-2003) or closes it (Wikigold), since empty groups are dropped.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<NerSentence>> ReadDocuments(string path, ConllReadReport? report = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var reader = TextLines.Open(path);
        return ReadDocuments(reader, report);
    }

    /// <inheritdoc cref="ReadDocuments(string, ConllReadReport?)"/>
    public static IReadOnlyList<IReadOnlyList<NerSentence>> ReadDocuments(TextReader reader, ConllReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return ReadLines(reader, report ?? new ConllReadReport())
            .GroupBy(s => s.Document, s => s.Sentence)
            .Select(g => (IReadOnlyList<NerSentence>)g.ToList())
            .ToList();
    }

    /// <summary>
    /// Splits documents into train and test by the stable hash bucket of each document's first sentence
    /// (<see cref="DatasetSplit"/>), so no document's sentences land on both sides and the split never changes
    /// between runs or machines. For corpora without an official split, such as Wikigold.
    /// </summary>
    /// <param name="documents">Documents from <see cref="ReadDocuments(string, ConllReadReport?)"/>.</param>
    /// <param name="testPercent">Share of hash buckets held out (about that share of documents).</param>
    public static TrainTestSplit<NerSentence> SplitByDocument(IReadOnlyList<IReadOnlyList<NerSentence>> documents, int testPercent)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var split = DatasetSplit.Split(documents.Where(d => d.Count > 0), d => string.Join(' ', d[0].Tokens), testPercent);
        return new TrainTestSplit<NerSentence>([.. split.Train.SelectMany(d => d)], [.. split.Test.SelectMany(d => d)]);
    }

    private static IEnumerable<NerSentence> ReadFile(string path, ConllReadReport report)
    {
        using var reader = TextLines.Open(path);
        foreach (var (_, sentence) in ReadLines(reader, report))
        {
            yield return sentence;
        }
    }

    private static IEnumerable<(long Document, NerSentence Sentence)> ReadLines(TextReader reader, ConllReadReport report)
    {
        report.Format = "conll";
        var tokens = new List<string>();
        var tags = new List<string>();
        long sentenceStart = 0;
        long badLine = 0;
        string? badReason = null;

        foreach (string line in TextLines.Read(reader))
        {
            long lineNumber = ++report.Lines;
            var columns = line.Split(Separators, StringSplitOptions.RemoveEmptyEntries);
            bool boundary = columns.Length == 0 || columns[0] == DocStart;
            if (boundary)
            {
                // Flush before counting: the sentence belongs to the document the -DOCSTART- line closes or follows.
                var sentence = Flush();
                if (sentence is not null)
                {
                    yield return (report.Documents, sentence);
                }

                if (columns.Length > 0)
                {
                    report.Documents++;
                }

                continue;
            }

            if (tokens.Count == 0 && badReason is null)
            {
                sentenceStart = lineNumber;
            }

            if (badReason is not null)
            {
                continue;
            }

            string? error = columns.Length < 2 ? "a token line needs at least a token and a tag" : ValidateTag(columns[^1]);
            if (error is not null)
            {
                badLine = lineNumber;
                badReason = error;
                continue;
            }

            tokens.Add(columns[0]);
            tags.Add(columns[^1]);
        }

        var last = Flush();
        if (last is not null)
        {
            yield return (report.Documents, last);
        }

        NerSentence? Flush()
        {
            NerSentence? result = null;
            if (badReason is not null)
            {
                report.Skip(badLine, $"sentence starting on line {sentenceStart} skipped: {badReason}");
            }
            else if (tokens.Count > 0)
            {
                report.TagsConvertedToBio += ConvertToBio(tags);
                report.Records++;
                report.Tokens += tokens.Count;
                result = new NerSentence(tokens.ToArray(), tags.ToArray());
            }

            tokens.Clear();
            tags.Clear();
            badReason = null;
            return result;
        }
    }

    /// <summary>
    /// Rewrites, in place, every <c>I-X</c> that starts an entity (first tag, or after <c>O</c> or another type)
    /// to <c>B-X</c>, turning IOB1 into BIO. Returns how many tags changed.
    /// </summary>
    public static int ConvertToBio(IList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        int changed = 0;
        string previousType = "";
        for (int i = 0; i < tags.Count; i++)
        {
            string tag = tags[i];
            if (tag.StartsWith("I-", StringComparison.Ordinal))
            {
                string type = tag[2..];
                if (type != previousType)
                {
                    tags[i] = "B-" + type;
                    changed++;
                }

                previousType = type;
            }
            else
            {
                previousType = tag.StartsWith("B-", StringComparison.Ordinal) ? tag[2..] : "";
            }
        }

        return changed;
    }

    private static string? ValidateTag(string tag)
    {
        if (tag == "O")
        {
            return null;
        }

        if ((tag.StartsWith("B-", StringComparison.Ordinal) || tag.StartsWith("I-", StringComparison.Ordinal)) && tag.Length > 2)
        {
            return null;
        }

        return $"tag '{SpamDataReader.Truncate(tag)}' is not O, B-TYPE or I-TYPE";
    }
}
