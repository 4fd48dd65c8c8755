using System.Text.Json;
using StreamBert.Contracts;

namespace StreamBert.Kafka;

/// <summary>
/// Writes and reads <see cref="TrainingRunReport"/> records of the trainer-runs topic. Readers (the reviewer's desk) treat
/// the topic as untrusted input: <see cref="Parse"/> bounds the size and checks every field before anything is shown.
/// </summary>
public static class TrainingRunReports
{
    /// <summary>Largest report read; a real one is about 1 KiB (a few scores, a few label partitions).</summary>
    public const int MaxReportBytes = 64 * 1024;

    private const int MaxScores = 16;
    private const int MaxLabelOffsets = 256;
    private const int MaxTextLength = 2048;
    private const int MaxNameLength = 64;

    private static readonly JsonSerializerOptions ReadOptions = new() { MaxDepth = 8 };

    public static byte[] Serialize(TrainingRunReport report) => JsonSerializer.SerializeToUtf8Bytes(report);

    /// <summary>Parses and checks one report (<see cref="Validate"/>); throws <see cref="InvalidDataException"/> for anything else.</summary>
    public static TrainingRunReport Parse(ReadOnlySpan<byte> value)
    {
        if (value.Length > MaxReportBytes)
        {
            throw new InvalidDataException($"A training run report of {value.Length} bytes exceeds {MaxReportBytes}.");
        }

        TrainingRunReport? report;
        try
        {
            report = JsonSerializer.Deserialize<TrainingRunReport>(value, ReadOptions);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"Not TrainingRunReport JSON: {ex.Message}", ex);
        }

        if (report is null)
        {
            throw new InvalidDataException("A training run report is JSON null.");
        }

        return Validate(report) is { } problem ? throw new InvalidDataException(problem) : report;
    }

    /// <summary>The first thing wrong with a report, or null: <c>required</c> only means present, so nulls, bounds and numbers are checked here.</summary>
    public static string? Validate(TrainingRunReport report)
    {
        if (!ModelEvents.IsBundleName(report.Bundle))
        {
            return "bundle is not a bundle name";
        }

        if (report.Task is not { Length: > 0 and <= MaxNameLength } || !report.Task.All(char.IsAsciiLetterLower))
        {
            return "task is not a lowercase word";
        }

        if (report.RunId is not { Length: > 0 and <= MaxNameLength } || !report.RunId.All(char.IsAsciiLetterOrDigit) || report.Number < 1)
        {
            return "runId or number is missing or malformed";
        }

        if ((report.ParentVersion is { } parent && !ModelEvents.IsVersion(parent))
            || (report.CandidateVersion is { } candidate && !ModelEvents.IsVersion(candidate)))
        {
            return "parentVersion or candidateVersion is not v1, v2, ...";
        }

        if (report.Verdict is not (TrainingVerdicts.Published or TrainingVerdicts.Refused or TrainingVerdicts.Failed))
        {
            return "verdict is not published, refused or failed";
        }

        if ((report.Verdict == TrainingVerdicts.Published) != (report.CandidateVersion is not null))
        {
            return "a published run names its candidate version, and only a published run does";
        }

        if (report.Reason is not { Length: <= MaxTextLength })
        {
            return $"reason is missing or longer than {MaxTextLength}";
        }

        if (report.Scores is not { Count: <= MaxScores } scores)
        {
            return $"scores must be a list of at most {MaxScores}";
        }

        foreach (var score in scores)
        {
            if (score is null || score.Set is not { Length: > 0 and <= 256 } || score.N < 0
                || !IsRate(score.CurrentF1) || !IsRate(score.CandidateF1)
                || !IsRateOrNull(score.CurrentRecall) || !IsRateOrNull(score.CandidateRecall) || !IsRateOrNull(score.CandidatePrecision)
                || !IsRateOrNull(score.CurrentFalsePositiveRate) || !IsRateOrNull(score.CandidateFalsePositiveRate))
            {
                return "a score needs a set name, n >= 0 and rates between 0 and 1";
            }
        }

        if (report.Labels < 0 || report.TrainRows < 0)
        {
            return "labels and trainRows must be >= 0";
        }

        if (report.LabelOffsets is not { Count: <= MaxLabelOffsets } offsets
            || offsets.Any(o => o.Key is not { Length: > 0 and <= 255 } || o.Value is null || o.Value.From < 0 || o.Value.To < o.Value.From))
        {
            return $"labelOffsets must map at most {MaxLabelOffsets} topic/partition names to ranges 0 <= from <= to";
        }

        return report.FinishedAt < report.StartedAt ? "finishedAt is before startedAt" : null;
    }

    private static bool IsRate(double value) => value is >= 0 and <= 1;

    private static bool IsRateOrNull(double? value) => value is null || IsRate(value.Value);
}
