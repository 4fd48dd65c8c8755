using System.Text;

namespace StreamBert.Training.Data;

/// <summary>One CSV record: its fields, or why it could not be parsed.</summary>
/// <param name="LineNumber">1-based line on which the record starts.</param>
/// <param name="Fields">The fields, unquoted and unescaped; empty when <paramref name="Error"/> is set.</param>
/// <param name="Error">Null for a well-formed record, otherwise the reason it is malformed.</param>
public sealed record CsvRecord(long LineNumber, IReadOnlyList<string> Fields, string? Error)
{
    /// <summary>True when the record parsed.</summary>
    public bool IsValid => Error is null;
}

/// <summary>
/// A small streaming RFC 4180 CSV parser: fields separated by a delimiter, optionally enclosed in double
/// quotes, with <c>""</c> for a quote inside a quoted field and line breaks allowed inside quoted fields.
/// </summary>
/// <remarks>
/// <para>Deviations, chosen so that one bad line costs one record and never the rest of the file:</para>
/// <list type="bullet">
/// <item>A quoted field that is still open after <c>maxLinesPerRecord</c> lines, or at the end of the input, makes
/// the record malformed, and the lines after its first are parsed again as records of their own.</item>
/// <item>Text between a closing quote and the next delimiter (<c>"ab"c</c>) makes the record malformed.</item>
/// <item>A quote inside an unquoted field (<c>ab"c</c>) is kept literally, as most CSV readers do.</item>
/// <item>Empty lines are not records. Line breaks inside quoted fields are returned as <c>\n</c>.</item>
/// </list>
/// <para>The parser does not know about headers or field counts; callers check those.</para>
/// </remarks>
public static class CsvParser
{
    /// <summary>Reads every record of <paramref name="reader"/>, malformed ones included (with <see cref="CsvRecord.Error"/> set).</summary>
    /// <param name="reader">CSV text.</param>
    /// <param name="delimiter">Field separator.</param>
    /// <param name="maxLinesPerRecord">Most physical lines one record (with quoted line breaks) may span.</param>
    public static IEnumerable<CsvRecord> ReadRecords(TextReader reader, char delimiter = ',', int maxLinesPerRecord = 100)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLinesPerRecord, 1);
        if (delimiter is '"' or '\n' or '\r')
        {
            throw new ArgumentException("The delimiter cannot be a quote or a line break.", nameof(delimiter));
        }

        return ReadRecords(TextLines.Read(reader), delimiter, maxLinesPerRecord);
    }

    /// <summary>Reads records from lines already split (LF removed); record line numbers count these lines from 1.</summary>
    internal static IEnumerable<CsvRecord> ReadRecords(IEnumerable<string> source, char delimiter = ',', int maxLinesPerRecord = 100)
    {
        using var lines = source.GetEnumerator();
        long physicalLine = 0;
        var replay = new LinkedList<(long Number, string Text)>();
        var consumed = new List<(long Number, string Text)>();
        var parser = new LineParser(delimiter);

        bool Next(out long number, out string text)
        {
            if (replay.First is { } node)
            {
                replay.RemoveFirst();
                (number, text) = node.Value;
                return true;
            }

            if (lines.MoveNext())
            {
                number = ++physicalLine;
                text = lines.Current;
                return true;
            }

            (number, text) = (0, "");
            return false;
        }

        while (Next(out long startLine, out string line))
        {
            if (line.Length == 0)
            {
                continue;
            }

            parser.Reset();
            consumed.Clear();
            consumed.Add((startLine, line));
            var state = parser.Parse(line);
            while (state == LineState.NeedMore)
            {
                if (consumed.Count >= maxLinesPerRecord || !Next(out long number, out string more))
                {
                    break;
                }

                consumed.Add((number, more));
                parser.AppendLineBreak();
                state = parser.Parse(more);
            }

            switch (state)
            {
                case LineState.Complete:
                    yield return new CsvRecord(startLine, parser.TakeFields(), null);
                    break;
                case LineState.NeedMore:
                    // Unterminated quote: give the lines after the first back, so they are read as records.
                    for (int i = consumed.Count - 1; i >= 1; i--)
                    {
                        replay.AddFirst(consumed[i]);
                    }

                    yield return new CsvRecord(startLine, [], "unterminated quoted field");
                    break;
                default:
                    yield return new CsvRecord(startLine, [], parser.Error);
                    break;
            }
        }
    }

    private enum LineState
    {
        Complete,
        NeedMore,
        Malformed,
    }

    private enum FieldState
    {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }

    private sealed class LineParser(char delimiter)
    {
        private readonly List<string> _fields = [];
        private readonly StringBuilder _field = new();
        private FieldState _state;

        public string Error { get; private set; } = "";

        public void Reset()
        {
            _fields.Clear();
            _field.Clear();
            _state = FieldState.FieldStart;
            Error = "";
        }

        public void AppendLineBreak() => _field.Append('\n');

        public string[] TakeFields() => [.. _fields];

        public LineState Parse(string line)
        {
            foreach (char ch in line)
            {
                switch (_state)
                {
                    case FieldState.FieldStart:
                        if (ch == '"')
                        {
                            _state = FieldState.Quoted;
                        }
                        else if (ch == delimiter)
                        {
                            EndField();
                        }
                        else
                        {
                            _field.Append(ch);
                            _state = FieldState.Unquoted;
                        }

                        break;
                    case FieldState.Unquoted:
                        if (ch == delimiter)
                        {
                            EndField();
                        }
                        else
                        {
                            _field.Append(ch);
                        }

                        break;
                    case FieldState.Quoted:
                        if (ch == '"')
                        {
                            _state = FieldState.QuoteInQuoted;
                        }
                        else
                        {
                            _field.Append(ch);
                        }

                        break;
                    case FieldState.QuoteInQuoted:
                        if (ch == '"')
                        {
                            _field.Append('"');
                            _state = FieldState.Quoted;
                        }
                        else if (ch == delimiter)
                        {
                            EndField();
                        }
                        else
                        {
                            Error = $"unexpected '{ch}' after the closing quote of field {_fields.Count + 1}";
                            return LineState.Malformed;
                        }

                        break;
                }
            }

            if (_state == FieldState.Quoted)
            {
                return LineState.NeedMore;
            }

            EndField();
            return LineState.Complete;
        }

        private void EndField()
        {
            _fields.Add(_field.ToString());
            _field.Clear();
            _state = FieldState.FieldStart;
        }
    }
}
