using StreamBert.Contracts;
using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Calibration;

/// <summary>
/// Chooses the served threshold on held-out calibrated scores: the lowest threshold (most recall) that meets the target.
/// A false-positive-rate ceiling can always be met (a threshold above every negative flags none); a precision floor may
/// not be, and then the highest-precision threshold is taken and the operating point says the target was missed.
/// </summary>
public static class OperatingPointFinder
{
    /// <summary>Thresholds the stored curve shows besides the chosen one (calibrated scores read as probabilities).</summary>
    private static readonly double[] CurveGrid = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];

    /// <summary>Default targets: spam flags at most 1% of ham; claims are at least 80% precise.</summary>
    public static OperatingTarget DefaultTarget(string task) => task == TaskNames.Spam
        ? new OperatingTarget { Metric = OperatingTarget.MaxFalsePositiveRate, Value = 0.01 }
        : new OperatingTarget { Metric = OperatingTarget.MinPrecision, Value = 0.8 };

    /// <summary>Whether a confusion matrix meets <paramref name="target"/>.</summary>
    public static bool Meets(OperatingTarget target, BinaryMetrics metrics) => target.Metric switch
    {
        OperatingTarget.MaxFalsePositiveRate => metrics.FalsePositiveRate <= target.Value,
        OperatingTarget.MinPrecision => metrics.Precision >= target.Value,
        _ => throw new InvalidDataException($"Unknown operating target metric '{target.Metric}'."),
    };

    /// <summary>For people: "FPR ≤ 0.01" or "precision ≥ 0.8".</summary>
    public static string Describe(OperatingTarget target) => target.Metric == OperatingTarget.MaxFalsePositiveRate
        ? FormattableString.Invariant($"FPR <= {target.Value}")
        : FormattableString.Invariant($"precision >= {target.Value}");

    public static OperatingPoint Find(IReadOnlyList<double> scores, IReadOnlyList<bool> positive, OperatingTarget target, string? fittedOn = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Metric is not (OperatingTarget.MaxFalsePositiveRate or OperatingTarget.MinPrecision) || target.Value is < 0 or > 1 || double.IsNaN(target.Value))
        {
            throw new ArgumentException($"Operating target {target.Metric} {target.Value} is not one of maxFpr / minPrecision in [0, 1].", nameof(target));
        }

        // Candidates: every distinct score (flag it and everything above), and one above the maximum (flag nothing).
        var distinct = scores.Distinct().OrderByDescending(s => s).ToList();
        var candidates = new List<double> { distinct.Count == 0 ? 1 : Math.BitIncrement(distinct[0]) };
        candidates.AddRange(distinct);
        double? chosen = null;
        double bestPrecisionThreshold = candidates[0];
        var bestPrecision = -1.0;
        foreach (var threshold in candidates)
        {
            var metrics = ScoreMetrics.AtThreshold(scores, positive, threshold);
            if (Meets(target, metrics))
            {
                // Lower thresholds only add recall; keep the lowest that still meets the target.
                chosen = threshold;
            }

            if (metrics.TruePositives > 0 && metrics.Precision > bestPrecision)
            {
                bestPrecision = metrics.Precision;
                bestPrecisionThreshold = threshold;
            }
        }

        var met = chosen is not null;
        var served = chosen ?? bestPrecisionThreshold;
        var at = ScoreMetrics.AtThreshold(scores, positive, served);
        var curve = CurveGrid.Append(served).Distinct().Order().Select(t =>
        {
            var m = ScoreMetrics.AtThreshold(scores, positive, t);
            return new CurvePoint(t, m.Precision, m.Recall, m.FalsePositiveRate);
        }).ToList();
        return new OperatingPoint
        {
            Target = target,
            Threshold = served,
            TargetMet = met,
            Precision = at.Precision,
            Recall = at.Recall,
            FalsePositiveRate = at.FalsePositiveRate,
            N = scores.Count,
            Positives = positive.Count(p => p),
            FittedOn = fittedOn,
            Curve = curve,
        };
    }
}
