using System.Text.Json.Serialization;

namespace StreamBert.Contracts;

/// <summary>
/// What one run of the training service did, on <see cref="Topics.TrainerRuns"/> (key = bundle name): the version it
/// started from, the candidate it trained (if it got that far), the quality gate's verdict and the scores the gate judged
/// by. Refused and failed runs leave no version in the registry and no <see cref="ModelPublished"/> event; this report is
/// the only record of them outside the trainer's log.
/// </summary>
public sealed record TrainingRunReport
{
    [JsonPropertyName("bundle")] public required string Bundle { get; init; }
    [JsonPropertyName("task")] public required string Task { get; init; }

    /// <summary>Unique per run (a GUID in hex), for joining with the trainer's log.</summary>
    [JsonPropertyName("runId")] public required string RunId { get; init; }

    /// <summary>1, 2, … per trainer process: restarts begin again at 1.</summary>
    [JsonPropertyName("number")] public required long Number { get; init; }

    /// <summary>The version the candidate was trained from and judged against (CURRENT when the run started).</summary>
    [JsonPropertyName("parentVersion")] public string? ParentVersion { get; init; }

    /// <summary>The version the run published; null when it was refused or failed.</summary>
    [JsonPropertyName("candidateVersion")] public string? CandidateVersion { get; init; }

    /// <summary><see cref="TrainingVerdicts.Published"/>, <see cref="TrainingVerdicts.Refused"/> or <see cref="TrainingVerdicts.Failed"/>.</summary>
    [JsonPropertyName("verdict")] public required string Verdict { get; init; }

    [JsonPropertyName("reason")] public required string Reason { get; init; }

    /// <summary>The gate's scores: per evaluation set, the parent's and the candidate's F1 on the same rows. Empty when the run failed before judging.</summary>
    [JsonPropertyName("scores")] public IReadOnlyList<TrainingRunScore> Scores { get; init; } = [];

    /// <summary>Reviewer labels the run trained and was judged on (latest per item).</summary>
    [JsonPropertyName("labels")] public int Labels { get; init; }

    /// <summary>Rows the candidate was trained on (base data and labels, labels weighted); 0 when it failed before.</summary>
    [JsonPropertyName("trainRows")] public int TrainRows { get; init; }

    /// <summary>Per label partition (<c>topic/partition</c>): the offsets this run was the first to train on, <c>from</c> inclusive, <c>to</c> exclusive.</summary>
    [JsonPropertyName("labelOffsets")] public IReadOnlyDictionary<string, LabelOffsetRange> LabelOffsets { get; init; } = new Dictionary<string, LabelOffsetRange>();

    [JsonPropertyName("startedAt")] public required DateTimeOffset StartedAt { get; init; }
    [JsonPropertyName("finishedAt")] public required DateTimeOffset FinishedAt { get; init; }
}

/// <summary>
/// One evaluation set's F1 for the parent (<c>current</c>) and the candidate, on the same rows; recall, precision and FPR
/// at each one's operating point where the head has one (spam, claims).
/// </summary>
public sealed record TrainingRunScore
{
    [JsonPropertyName("set")] public required string Set { get; init; }
    [JsonPropertyName("n")] public required int N { get; init; }
    [JsonPropertyName("currentF1")] public required double CurrentF1 { get; init; }
    [JsonPropertyName("candidateF1")] public required double CandidateF1 { get; init; }
    [JsonPropertyName("currentRecall")] public double? CurrentRecall { get; init; }
    [JsonPropertyName("candidateRecall")] public double? CandidateRecall { get; init; }
    [JsonPropertyName("candidatePrecision")] public double? CandidatePrecision { get; init; }
    [JsonPropertyName("currentFpr")] public double? CurrentFalsePositiveRate { get; init; }
    [JsonPropertyName("candidateFpr")] public double? CandidateFalsePositiveRate { get; init; }
}

/// <summary>Offsets of one label partition: <see cref="From"/> inclusive, <see cref="To"/> exclusive.</summary>
public sealed record LabelOffsetRange([property: JsonPropertyName("from")] long From, [property: JsonPropertyName("to")] long To);

/// <summary>The verdicts of <see cref="TrainingRunReport.Verdict"/>.</summary>
public static class TrainingVerdicts
{
    /// <summary>The candidate passed the gate and was announced on the models topic.</summary>
    public const string Published = "published";

    /// <summary>The gate refused the candidate (or had nothing to judge it on).</summary>
    public const string Refused = "refused";

    /// <summary>The run threw, or its version could not be announced.</summary>
    public const string Failed = "failed";
}
