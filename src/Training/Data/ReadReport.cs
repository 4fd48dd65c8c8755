namespace StreamBert.Training.Data;

/// <summary>
/// What one read of a data file did: how many lines it saw, how many records it produced and how many
/// malformed records it skipped, with the first <see cref="MaxSamples"/> reasons. The readers fill it while
/// they are enumerated, so read it after the enumeration has finished.
/// </summary>
/// <remarks>Readers never throw for a malformed line; they skip it and count it here. They do throw for a
/// file that cannot be the expected kind at all (for example a CSV without the required header columns).</remarks>
public class ReadReport
{
    /// <summary>Number of skipped records whose reason is kept in <see cref="SkippedSamples"/>.</summary>
    public const int MaxSamples = 20;

    private readonly List<SkippedRecord> _samples = [];

    /// <summary>Format the reader detected or assumed: <c>tsv</c>, <c>jsonl</c>, <c>csv</c> or <c>conll</c>; null before the first record.</summary>
    public string? Format { get; internal set; }

    /// <summary>Physical lines read, blank lines and headers included.</summary>
    public long Lines { get; internal set; }

    /// <summary>Records produced.</summary>
    public long Records { get; internal set; }

    /// <summary>Malformed records skipped.</summary>
    public long Skipped { get; internal set; }

    /// <summary>The first <see cref="MaxSamples"/> skipped records, in file order.</summary>
    public IReadOnlyList<SkippedRecord> SkippedSamples => _samples;

    internal void Skip(long lineNumber, string reason)
    {
        Skipped++;
        if (_samples.Count < MaxSamples)
        {
            _samples.Add(new SkippedRecord(lineNumber, reason));
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Format ?? "unknown"}: {Lines} lines, {Records} records, {Skipped} skipped" +
        (_samples.Count > 0 ? $" (first: line {_samples[0].LineNumber}: {_samples[0].Reason})" : "");
}

/// <summary>A malformed record the reader skipped.</summary>
/// <param name="LineNumber">1-based line on which the record starts.</param>
/// <param name="Reason">Why it was skipped.</param>
public sealed record SkippedRecord(long LineNumber, string Reason);
