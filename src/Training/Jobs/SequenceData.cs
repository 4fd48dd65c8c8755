using StreamBert.Contracts;
using StreamBert.Training.Data;

namespace StreamBert.Training.Jobs;

/// <summary>
/// The labelled texts of the sequence tasks (spam, claims) and the one train/evaluation split every trainer
/// uses, so heads-only, full fine-tuning and the training service are judged on the same rows.
/// </summary>
public static class SequenceData
{
    /// <summary>Rows of a spam or claims file.</summary>
    public static IEnumerable<LabeledText> Read(string task, string path, ReadReport? report = null) => task == TaskNames.Spam
        ? SpamDataReader.Read(path, report)
        : ClaimDataReader.Read(path, report).Select(r => r.ToLabeledText());

    /// <summary>
    /// Dedup by exact text; then the evaluation file's rows (its texts removed from training) or the stable hash
    /// split; then <see cref="TrainRequest.Limit"/> as a stable pseudo-random subset.
    /// </summary>
    public static (IReadOnlyList<LabeledText> Train, IReadOnlyList<LabeledText> Test, string EvaluatedOn) Split(TrainRequest request, TextWriter log)
    {
        var (train, _, test, evaluatedOn) = Split(request, log, calibrationPercent: 0);
        return (train, test, evaluatedOn);
    }

    /// <summary>
    /// <see cref="Split(TrainRequest, TextWriter)"/> with a calibration part carved out of the training rows
    /// (<see cref="Calibration.HeadCalibration.Split"/>) before <see cref="TrainRequest.Limit"/> applies, so a quick model
    /// trains on as many rows as before and its threshold is still fitted on a full-size held-out part.
    /// </summary>
    public static (IReadOnlyList<LabeledText> Train, IReadOnlyList<LabeledText> Calibration, IReadOnlyList<LabeledText> Test, string EvaluatedOn) Split(
        TrainRequest request, TextWriter log, int calibrationPercent)
    {
        var rows = new List<LabeledText>();
        foreach (var file in request.DataFiles)
        {
            var report = new ReadReport();
            rows.AddRange(Read(request.Task, file, report));
            log.WriteLine($"Read {file}: {report}");
        }

        var dedup = DatasetSplit.Deduplicate(rows);
        log.WriteLine($"{dedup.InputCount} rows, {dedup.DuplicatesRemoved} duplicate texts removed, {dedup.ConflictingTexts} with conflicting labels");
        IReadOnlyList<LabeledText> train;
        IReadOnlyList<LabeledText> test;
        string evaluatedOn;
        if (request.EvalFile is { } evalFile)
        {
            test = [.. Read(request.Task, evalFile)];
            var held = test.Select(t => t.Text).ToHashSet(StringComparer.Ordinal);
            train = [.. dedup.Items.Where(r => !held.Contains(r.Text))];
            evaluatedOn = $"{Path.GetFileName(evalFile)} (all {test.Count} rows; {dedup.Items.Count - train.Count} of its texts removed from training)";
        }
        else
        {
            var split = DatasetSplit.Split(dedup.Items);
            train = split.Train;
            test = split.Test;
            evaluatedOn = $"held-out split (hash bucket < {DatasetSplit.DefaultTestPercent} of 100): {test.Count} rows";
        }

        IReadOnlyList<LabeledText> calibration = [];
        if (calibrationPercent > 0)
        {
            (train, calibration) = Calibration.HeadCalibration.Split(train, calibrationPercent);
        }

        if (request.Limit is { } limit && train.Count > limit)
        {
            // A quick model (the demo's): a stable pseudo-random subset, the same on every machine.
            train = [.. train.OrderBy(r => DatasetSplit.Bucket(r.Text)).ThenBy(r => r.Text, StringComparer.Ordinal).Take(limit)];
        }

        return (train, calibration, test, evaluatedOn);
    }
}
