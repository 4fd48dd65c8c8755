using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tasks;
using StreamBert.Training.Data;

namespace StreamBert.Training.Calibration;

/// <summary>
/// Fits a sequence head's calibration and operating point on rows it was not trained on, scored through the serving path
/// (windows, maximum over windows) of a staged bundle, and returns the head spec that carries both.
/// </summary>
public static class HeadCalibration
{
    /// <summary>Share (percent) of the training rows set aside to fit calibration and threshold.</summary>
    public const int DefaultPercent = 20;

    /// <summary>
    /// Whether a training text is set aside for calibration: a stable hash bucket like <see cref="DatasetSplit"/>'s,
    /// salted so it is independent of the evaluation split (whose unsalted buckets are all "train" here).
    /// </summary>
    public static bool IsCalibrationRow(string text, int percent = DefaultPercent) => DatasetSplit.IsTest("calibration:" + text, percent);

    /// <summary>Splits training rows into the rows the head trains on and the rows calibration is fitted on.</summary>
    public static (IReadOnlyList<LabeledText> Train, IReadOnlyList<LabeledText> Calibration) Split(IEnumerable<LabeledText> rows, int percent = DefaultPercent)
    {
        var split = DatasetSplit.Split(rows, r => "calibration:" + r.Text, percent);
        return (split.Train, split.Test);
    }

    /// <summary>The head <paramref name="task"/> of <paramref name="models"/> with a calibration and operating point fitted on <paramref name="rows"/>.</summary>
    /// <param name="models">A staged set whose head for the task is the one to calibrate (its own calibration, if any, is ignored: margins are raw).</param>
    public static HeadSpec Fit(ModelSet models, string task, IReadOnlyList<LabeledText> rows, OperatingTarget target, string fittedOn, CancellationToken cancellationToken)
    {
        var head = models.RequiredHead(task);
        var margins = new OfflineScorer(models).MarginTexts([.. rows.Select(r => r.Text)], task, cancellationToken);
        return FitMargins(head.Spec, rows, margins, target, fittedOn);
    }

    /// <summary>
    /// <paramref name="spec"/> with a calibration and operating point fitted on <paramref name="rows"/>, given their raw
    /// margins as served (the maximum over windows): what <see cref="Fit"/> does once the margins are known, for callers
    /// that score from cached features.
    /// </summary>
    public static HeadSpec FitMargins(HeadSpec spec, IReadOnlyList<LabeledText> rows, IReadOnlyList<float> margins, OperatingTarget target, string fittedOn)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var positiveLabel = spec.Labels[^1];
        var positive = rows.Select(r => r.Label == positiveLabel).ToArray();
        var calibration = CalibrationFitter.Fit(margins, positive, fittedOn);
        var calibrator = new ScoreCalibrator(calibration);
        var scores = margins.Select(m => calibrator.Probability(m)).ToArray();
        var point = OperatingPointFinder.Find(scores, positive, target, fittedOn);
        return spec with { Calibration = calibration, OperatingPoint = point };
    }
}
