using System.Globalization;
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
    /// split; then the texts of <see cref="TrainRequest.ExcludeFiles"/> removed from training; then a calibration part
    /// carved out of the training rows (<see cref="Calibration.HeadCalibration.Split"/>) when
    /// <paramref name="calibrationPercent"/> &gt; 0, before <see cref="TrainRequest.Limit"/> applies as a stable
    /// pseudo-random subset, so a quick model trains on as many rows as before and its threshold is still fitted on a
    /// full-size held-out part.
    /// </summary>
    public static SequenceSplit Split(TrainRequest request, TextWriter log, int calibrationPercent = 0)
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

        ExcludedTexts? excluded = null;
        if (request.ExcludeFiles.Count > 0)
        {
            var texts = request.ExcludeFiles.SelectMany(f => Read(request.Task, f)).Select(r => r.Text).ToHashSet(StringComparer.Ordinal);
            var kept = train.Where(r => !texts.Contains(r.Text)).ToList();
            excluded = new ExcludedTexts([.. request.ExcludeFiles.Select(Path.GetFileName).OfType<string>()], texts.Count, train.Count - kept.Count);
            train = kept;
            log.WriteLine($"Excluded the {texts.Count} texts of {string.Join(", ", excluded.Files)}: {excluded.RowsRemoved} training rows removed");
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

        return new SequenceSplit(train, calibration, test, evaluatedOn, excluded);
    }
}

/// <summary>The rows one training run uses (<see cref="SequenceData.Split"/>).</summary>
/// <param name="Train">Rows the head trains on.</param>
/// <param name="Calibration">Training rows held out of the head to fit calibration and threshold.</param>
/// <param name="Test">Rows the version is evaluated on.</param>
/// <param name="EvaluatedOn">What <paramref name="Test"/> is, for the manifest.</param>
/// <param name="Excluded">What <see cref="TrainRequest.ExcludeFiles"/> removed; null when none were given.</param>
public sealed record SequenceSplit(
    IReadOnlyList<LabeledText> Train, IReadOnlyList<LabeledText> Calibration, IReadOnlyList<LabeledText> Test, string EvaluatedOn, ExcludedTexts? Excluded);

/// <summary>The texts of <see cref="TrainRequest.ExcludeFiles"/> and how many training or calibration rows they removed.</summary>
/// <param name="Files">The files' names.</param>
/// <param name="Texts">Distinct texts in them.</param>
/// <param name="RowsRemoved">Training and calibration rows that had one of those texts.</param>
public sealed record ExcludedTexts(IReadOnlyList<string> Files, int Texts, int RowsRemoved)
{
    /// <summary>Manifest <c>training</c> keys: the file names (<c>;</c>-separated), and a sentence with the counts.</summary>
    public const string FilesKey = "excludeFiles";
    public const string SummaryKey = "excluded";

    public void Record(IDictionary<string, string> training)
    {
        training[FilesKey] = string.Join(";", Files);
        training[SummaryKey] = string.Create(CultureInfo.InvariantCulture, $"{Texts} texts of {string.Join(", ", Files)}; {RowsRemoved} training or calibration rows had one and were removed");
    }
}
