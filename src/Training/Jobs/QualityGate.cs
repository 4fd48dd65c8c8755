using System.Globalization;
using StreamBert.Contracts;
using StreamBert.Training.Calibration;

namespace StreamBert.Training.Jobs;

/// <summary>
/// Whether a candidate version may replace the current one, judged on one evaluation set where each version cuts its
/// scores at its own served threshold.
/// </summary>
/// <remarks>
/// <para>Spam and claims candidates carry an operating target (spam: FPR ≤ 1%, claims: precision ≥ 0.8). A candidate
/// that misses it on the set by more than the tolerance is refused, unless the current version misses it too and the candidate is no further
/// from it (a domain the model has not adapted to yet: refusing every candidate there would stop the adaptation).
/// Among versions meeting it, the candidate must not lose more than the tolerance of recall at the operating point,
/// the quantity a precision-first product trades on.</para>
/// <para>F1 is still compared, as before operating points existed, when the current version has no operating point:
/// its 0.5 threshold and the candidate's precision-first one are not the same trade, and only F1 spans both.</para>
/// </remarks>
public static class QualityGate
{
    /// <summary>Null when the candidate passes on this set; else why not, for the log and the outcome.</summary>
    public static string? Judge(string set, EvaluationReport current, EvaluationReport candidate, OperatingTarget? target, bool currentHasOperatingPoint, double tolerance)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(candidate);
        var reasons = new List<string>();
        if (target is not null && candidate.FalsePositiveRate is not null)
        {
            var candidateValue = TargetValue(target, candidate);
            var currentValue = TargetValue(target, current);
            // The evaluation sets are not the data the threshold was fitted on (and held-out labels can be a few dozen):
            // the target holds on them within the tolerance.
            var candidateMeets = Meets(target, candidateValue, tolerance);
            var currentMeets = Meets(target, currentValue, tolerance);
            var what = OperatingPointFinder.Describe(target);
            if (!candidateMeets && (currentMeets || Worse(target, candidateValue, currentValue, tolerance)))
            {
                reasons.Add(string.Create(CultureInfo.InvariantCulture,
                    $"misses {what} on {set}: {Name(target)} {candidateValue:F4} (current {currentValue:F4})"));
            }
            else if (candidateMeets && currentMeets && candidate.Recall < current.Recall - tolerance)
            {
                reasons.Add(string.Create(CultureInfo.InvariantCulture,
                    $"recall at {what} on {set} {candidate.Recall:F4} < {current.Recall:F4} - {tolerance}"));
            }
        }

        if ((target is null || !currentHasOperatingPoint) && candidate.F1 < current.F1 - tolerance)
        {
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"F1 on {set} {candidate.F1:F4} < {current.F1:F4} - {tolerance}"));
        }

        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }

    private static string Name(OperatingTarget target) => target.Metric == OperatingTarget.MaxFalsePositiveRate ? "FPR" : "precision";

    private static double TargetValue(OperatingTarget target, EvaluationReport report) =>
        target.Metric == OperatingTarget.MaxFalsePositiveRate ? report.FalsePositiveRate ?? 0 : report.Precision;

    private static bool Meets(OperatingTarget target, double value, double tolerance) =>
        target.Metric == OperatingTarget.MaxFalsePositiveRate ? value <= target.Value + tolerance : value >= target.Value - tolerance;

    /// <summary>Whether the candidate's value is further from the target than the current one's, beyond the tolerance.</summary>
    private static bool Worse(OperatingTarget target, double candidate, double current, double tolerance) =>
        target.Metric == OperatingTarget.MaxFalsePositiveRate ? candidate > current + tolerance : candidate < current - tolerance;
}
