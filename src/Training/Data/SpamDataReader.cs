using StreamBert.Contracts;

namespace StreamBert.Training.Data;

/// <summary>
/// Reads spam/ham data sets as <see cref="LabeledText"/>, streaming: the SMS Spam Collection TSV
/// (<c>label&lt;TAB&gt;text</c>, no header) or JSON Lines with <c>text</c> and <c>label</c> (the Enron-Spam
/// files; their <c>id</c> and <c>encoding</c> properties are ignored).
/// </summary>
/// <remarks>
/// <para>The format is chosen from the first non-blank line: a JSON object means JSON Lines, anything else TSV.</para>
/// <para>TSV lines are split on the first TAB only and the text is taken verbatim; there is no CSV quoting
/// (SMS texts contain raw <c>"</c>). Labels are <c>ham</c> or <c>spam</c> in any case, returned lowercase.</para>
/// <para>Skipped (counted in the <see cref="ReadReport"/>): lines without a TAB, invalid JSON, unknown labels,
/// empty or all-whitespace texts. Blank lines are ignored.</para>
/// </remarks>
public static class SpamDataReader
{
    /// <summary>Reads a TSV or JSONL spam file; see <see cref="SpamDataReader"/>.</summary>
    /// <param name="path">File to read (UTF-8).</param>
    /// <param name="report">Filled with counts while the result is enumerated.</param>
    public static IEnumerable<LabeledText> Read(string path, ReadReport? report = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return ReadFile(path, report ?? new ReadReport());
    }

    /// <summary>Reads TSV or JSONL spam data from a reader; see <see cref="SpamDataReader"/>.</summary>
    public static IEnumerable<LabeledText> Read(TextReader reader, ReadReport? report = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return ReadLines(reader, report ?? new ReadReport());
    }

    private static IEnumerable<LabeledText> ReadFile(string path, ReadReport report)
    {
        using var reader = TextLines.Open(path);
        foreach (var item in ReadLines(reader, report))
        {
            yield return item;
        }
    }

    private static IEnumerable<LabeledText> ReadLines(TextReader reader, ReadReport report)
    {
        bool? json = null;
        foreach (string line in TextLines.Read(reader))
        {
            long lineNumber = ++report.Lines;
            if (TextLines.IsBlank(line))
            {
                continue;
            }

            if (json is null)
            {
                json = TextLines.LooksLikeJsonObject(line);
                report.Format = json.Value ? "jsonl" : "tsv";
            }

            string text, rawLabel;
            if (json.Value)
            {
                var parsed = JsonLines.TryParse(line, out string error);
                if (parsed is null)
                {
                    report.Skip(lineNumber, error);
                    continue;
                }

                (text, rawLabel) = parsed.Value;
            }
            else
            {
                int tab = line.IndexOf('\t', StringComparison.Ordinal);
                if (tab < 0)
                {
                    report.Skip(lineNumber, "no TAB between label and text");
                    continue;
                }

                rawLabel = line[..tab];
                text = line[(tab + 1)..];
            }

            string? label = NormalizeLabel(rawLabel);
            if (label is null)
            {
                report.Skip(lineNumber, $"unknown label '{Truncate(rawLabel)}' (expected ham or spam)");
                continue;
            }

            if (string.IsNullOrWhiteSpace(text))
            {
                report.Skip(lineNumber, "empty text");
                continue;
            }

            report.Records++;
            yield return new LabeledText(text, label);
        }
    }

    private static string? NormalizeLabel(string raw)
    {
        var label = raw.AsSpan().Trim();
        if (label.Equals(LabelSets.Spam, StringComparison.OrdinalIgnoreCase))
        {
            return LabelSets.Spam;
        }

        return label.Equals(LabelSets.Ham, StringComparison.OrdinalIgnoreCase) ? LabelSets.Ham : null;
    }

    internal static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
