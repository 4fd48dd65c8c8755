using System.Globalization;
using StreamBert.Contracts;

namespace StreamBert.Training.Data;

/// <summary>
/// One check-worthiness example. Rows from the ClaimBuster CSV also carry where the sentence sits, so that
/// debates can be rebuilt as documents (group by <see cref="FileId"/>, order by <see cref="LineNumber"/>).
/// </summary>
public sealed record ClaimRow
{
    /// <summary>The sentence, verbatim.</summary>
    public required string Text { get; init; }

    /// <summary><c>claim</c> or <c>no-claim</c> (<see cref="LabelSets.Claim"/>, <see cref="LabelSets.NoClaim"/>).</summary>
    public required string Label { get; init; }

    /// <summary>ClaimBuster verdict: 1 = check-worthy factual (CFS), 0 = unimportant factual (UFS),
    /// -1 = non-factual (NFS); null for JSONL input.</summary>
    public int? Verdict { get; init; }

    /// <summary>Debate transcript, for example <c>1988-09-25.txt</c>; null when absent.</summary>
    public string? FileId { get; init; }

    /// <summary>Position of the sentence in its debate transcript; null when absent.</summary>
    public int? LineNumber { get; init; }

    /// <summary>ClaimBuster sentence id, unique across both ClaimBuster files; null when absent.</summary>
    public long? SentenceId { get; init; }

    /// <summary>The text and label alone, for deduplication, splitting and training.</summary>
    public LabeledText ToLabeledText() => new(Text, Label);
}

/// <summary>
/// Reads check-worthiness data as <see cref="ClaimRow"/>, streaming: the ClaimBuster CSV files (RFC 4180, header
/// row; columns found by name) or JSON Lines with <c>text</c> and <c>label</c> (<c>claim</c> | <c>no-claim</c>).
/// </summary>
/// <remarks>
/// <para>The format is chosen from the first non-blank line: a JSON object means JSON Lines, anything else CSV.</para>
/// <para>CSV: the header must name <c>Text</c> and <c>Verdict</c> (case-insensitive; otherwise
/// <see cref="InvalidDataException"/>, since the file is not ClaimBuster data at all); <c>File_id</c>,
/// <c>Line_number</c> and <c>Sentence_id</c> are read when present. <c>Verdict</c> 1 becomes <c>claim</c>,
/// 0 and -1 become <c>no-claim</c> (the authors' binary task: check-worthy factual sentences against the rest).</para>
/// <para>Skipped (counted in the <see cref="ReadReport"/>): malformed CSV records, records whose field count
/// differs from the header's, verdicts other than -1/0/1, unparsable line numbers or sentence ids, invalid JSON,
/// unknown labels, and empty texts.</para>
/// </remarks>
public static class ClaimDataReader
{
    /// <summary>Reads a ClaimBuster CSV or a JSONL claims file; see <see cref="ClaimDataReader"/>.</summary>
    /// <param name="path">File to read (UTF-8).</param>
    /// <param name="report">Filled with counts while the result is enumerated.</param>
    public static IEnumerable<ClaimRow> Read(string path, ReadReport? report = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return ReadFile(path, report ?? new ReadReport());
    }

    /// <summary>Reads CSV or JSONL claims data from a reader; see <see cref="ClaimDataReader"/>.</summary>
    public static IEnumerable<ClaimRow> Read(TextReader reader, ReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return ReadText(reader, report ?? new ReadReport());
    }

    private static IEnumerable<ClaimRow> ReadFile(string path, ReadReport report)
    {
        using var reader = TextLines.Open(path);
        foreach (var row in ReadText(reader, report))
        {
            yield return row;
        }
    }

    private static IEnumerable<ClaimRow> ReadText(TextReader reader, ReadReport report)
    {
        // Look at the first non-blank line to pick the format, then feed every line, those included, to that parser.
        using var lines = TextLines.Read(reader).GetEnumerator();
        var leading = new List<string>();
        string? first = null;
        while (first is null && lines.MoveNext())
        {
            leading.Add(lines.Current);
            if (!TextLines.IsBlank(lines.Current))
            {
                first = lines.Current;
            }
        }

        if (first is null)
        {
            report.Lines += leading.Count;
            yield break;
        }

        var all = Counted(leading.Concat(Rest(lines)), report);
        var rows = TextLines.LooksLikeJsonObject(first) ? ReadJsonLines(all, report) : ReadCsv(all, report);
        foreach (var row in rows)
        {
            yield return row;
        }
    }

    private static IEnumerable<string> Rest(IEnumerator<string> lines)
    {
        while (lines.MoveNext())
        {
            yield return lines.Current;
        }
    }

    private static IEnumerable<string> Counted(IEnumerable<string> lines, ReadReport report)
    {
        foreach (string line in lines)
        {
            report.Lines++;
            yield return line;
        }
    }

    private static IEnumerable<ClaimRow> ReadJsonLines(IEnumerable<string> lines, ReadReport report)
    {
        report.Format = "jsonl";
        foreach (string line in lines)
        {
            long lineNumber = report.Lines;
            if (TextLines.IsBlank(line))
            {
                continue;
            }

            var parsed = JsonLines.TryParse(line, out string error);
            if (parsed is null)
            {
                report.Skip(lineNumber, error);
                continue;
            }

            var (text, rawLabel) = parsed.Value;
            string? label = rawLabel.Trim().ToLowerInvariant() switch
            {
                LabelSets.Claim => LabelSets.Claim,
                LabelSets.NoClaim => LabelSets.NoClaim,
                _ => null,
            };
            if (label is null)
            {
                report.Skip(lineNumber, $"unknown label '{SpamDataReader.Truncate(rawLabel)}' (expected claim or no-claim)");
                continue;
            }

            if (string.IsNullOrWhiteSpace(text))
            {
                report.Skip(lineNumber, "empty text");
                continue;
            }

            report.Records++;
            yield return new ClaimRow { Text = text, Label = label };
        }
    }

    private static IEnumerable<ClaimRow> ReadCsv(IEnumerable<string> lines, ReadReport report)
    {
        report.Format = "csv";
        Columns? columns = null;
        foreach (var record in CsvParser.ReadRecords(lines))
        {
            if (!record.IsValid)
            {
                report.Skip(record.LineNumber, record.Error!);
                continue;
            }

            if (columns is null)
            {
                columns = Columns.FromHeader(record.Fields);
                continue;
            }

            var row = columns.Value.ToRow(record, out string error);
            if (row is null)
            {
                report.Skip(record.LineNumber, error);
                continue;
            }

            report.Records++;
            yield return row;
        }
    }

    private readonly record struct Columns(int Count, int Text, int Verdict, int FileId, int LineNumber, int SentenceId)
    {
        public static Columns FromHeader(IReadOnlyList<string> header)
        {
            int Find(string name)
            {
                for (int i = 0; i < header.Count; i++)
                {
                    if (header[i].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
                    {
                        return i;
                    }
                }

                return -1;
            }

            var columns = new Columns(header.Count, Find("Text"), Find("Verdict"), Find("File_id"), Find("Line_number"), Find("Sentence_id"));
            if (columns.Text < 0 || columns.Verdict < 0)
            {
                throw new InvalidDataException(
                    $"Not a ClaimBuster CSV: the header needs columns Text and Verdict, found: {string.Join(", ", header.Take(20))}.");
            }

            return columns;
        }

        public ClaimRow? ToRow(CsvRecord record, out string error)
        {
            var f = record.Fields;
            if (f.Count != Count)
            {
                error = $"{f.Count} fields, the header has {Count}";
                return null;
            }

            string verdictText = f[Verdict].Trim();
            if (!int.TryParse(verdictText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int verdict)
                || verdict is < -1 or > 1)
            {
                error = $"Verdict '{SpamDataReader.Truncate(verdictText)}' is not -1, 0 or 1";
                return null;
            }

            if (string.IsNullOrWhiteSpace(f[Text]))
            {
                error = "empty text";
                return null;
            }

            int? lineNumber = null;
            if (LineNumber >= 0)
            {
                if (!int.TryParse(f[LineNumber].Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value))
                {
                    error = $"Line_number '{SpamDataReader.Truncate(f[LineNumber])}' is not an integer";
                    return null;
                }

                lineNumber = value;
            }

            long? sentenceId = null;
            if (SentenceId >= 0)
            {
                if (!long.TryParse(f[SentenceId].Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
                {
                    error = $"Sentence_id '{SpamDataReader.Truncate(f[SentenceId])}' is not an integer";
                    return null;
                }

                sentenceId = value;
            }

            error = "";
            return new ClaimRow
            {
                Text = f[Text],
                Label = verdict == 1 ? LabelSets.Claim : LabelSets.NoClaim,
                Verdict = verdict,
                FileId = FileId >= 0 && f[FileId].Length > 0 ? f[FileId] : null,
                LineNumber = lineNumber,
                SentenceId = sentenceId,
            };
        }
    }
}
