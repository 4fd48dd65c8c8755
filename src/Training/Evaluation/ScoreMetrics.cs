using System.Text.Json.Serialization;

namespace StreamBert.Training.Evaluation;

/// <summary>One bin of a reliability table: predictions with a score in [<see cref="From"/>, <see cref="To"/>).</summary>
public sealed record ReliabilityBin(
    [property: JsonPropertyName("from")] double From,
    [property: JsonPropertyName("to")] double To,
    [property: JsonPropertyName("n")] int N,
    [property: JsonPropertyName("meanScore")] double MeanScore,
    [property: JsonPropertyName("positiveRate")] double PositiveRate);

/// <summary>
/// Threshold-free quality of binary scores: ranking (ROC-AUC, PR-AUC) and calibration (reliability table, expected
/// calibration error). Scores are the positive class's probability; labels are true for the positive class.
/// </summary>
public static class ScoreMetrics
{
    /// <summary>Bins of the reliability table and the ECE (equal-width on [0, 1], as in Guo et al. 2017).</summary>
    public const int ReliabilityBins = 10;

    /// <summary>
    /// Area under the ROC curve: the probability that a random positive scores above a random negative, ties counting
    /// half (the Mann–Whitney statistic). NaN when either class is absent.
    /// </summary>
    public static double RocAuc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        Check(scores, positive);
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double rankSum = 0;
        long positives = 0;
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j < order.Length && scores[order[j]] == scores[order[i]])
            {
                j++;
            }

            // Tied scores share the mean of their ranks (1-based).
            var meanRank = (i + 1 + j) / 2.0;
            for (var k = i; k < j; k++)
            {
                if (positive[order[k]])
                {
                    rankSum += meanRank;
                    positives++;
                }
            }

            i = j;
        }

        long negatives = scores.Count - positives;
        return positives == 0 || negatives == 0 ? double.NaN : (rankSum - (positives * (positives + 1) / 2.0)) / ((double)positives * negatives);
    }

    /// <summary>
    /// Area under the precision–recall curve as average precision: the mean over positives of the precision at the
    /// threshold that first includes it (all items with one score enter together), as scikit-learn's
    /// <c>average_precision_score</c>. NaN without positives.
    /// </summary>
    public static double PrAuc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        Check(scores, positive);
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var totalPositives = positive.Count(p => p);
        if (totalPositives == 0)
        {
            return double.NaN;
        }

        double area = 0;
        int truePositives = 0, flagged = 0;
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            var newPositives = 0;
            while (j < order.Length && scores[order[j]] == scores[order[i]])
            {
                newPositives += positive[order[j]] ? 1 : 0;
                j++;
            }

            truePositives += newPositives;
            flagged = j;
            area += newPositives / (double)totalPositives * (truePositives / (double)flagged);
            i = j;
        }

        return area;
    }

    /// <summary>The reliability table: per equal-width score bin, the mean score and the share of positives.</summary>
    public static IReadOnlyList<ReliabilityBin> Reliability(IReadOnlyList<double> scores, IReadOnlyList<bool> positive, int bins = ReliabilityBins)
    {
        Check(scores, positive);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        var counts = new int[bins];
        var scoreSums = new double[bins];
        var positiveCounts = new int[bins];
        for (var i = 0; i < scores.Count; i++)
        {
            // A score of exactly 1 belongs to the last bin.
            var bin = Math.Clamp((int)(scores[i] * bins), 0, bins - 1);
            counts[bin]++;
            scoreSums[bin] += scores[i];
            positiveCounts[bin] += positive[i] ? 1 : 0;
        }

        return [.. Enumerable.Range(0, bins).Select(b => new ReliabilityBin(
            (double)b / bins,
            (double)(b + 1) / bins,
            counts[b],
            counts[b] == 0 ? 0 : scoreSums[b] / counts[b],
            counts[b] == 0 ? 0 : positiveCounts[b] / (double)counts[b]))];
    }

    /// <summary>Expected calibration error: Σ (bin share) · |mean score − positive rate| over the reliability table.</summary>
    public static double ExpectedCalibrationError(IReadOnlyList<ReliabilityBin> table)
    {
        var total = table.Sum(b => b.N);
        return total == 0 ? 0 : table.Sum(b => b.N / (double)total * Math.Abs(b.MeanScore - b.PositiveRate));
    }

    /// <inheritdoc cref="ExpectedCalibrationError(IReadOnlyList{ReliabilityBin})"/>
    public static double ExpectedCalibrationError(IReadOnlyList<double> scores, IReadOnlyList<bool> positive) =>
        ExpectedCalibrationError(Reliability(scores, positive));

    /// <summary>Confusion counts when scores at or above <paramref name="threshold"/> are called positive.</summary>
    public static BinaryMetrics AtThreshold(IReadOnlyList<double> scores, IReadOnlyList<bool> positive, double threshold)
    {
        Check(scores, positive);
        int tp = 0, fp = 0, fn = 0, tn = 0;
        for (var i = 0; i < scores.Count; i++)
        {
            var flagged = scores[i] >= threshold;
            if (positive[i])
            {
                tp += flagged ? 1 : 0;
                fn += flagged ? 0 : 1;
            }
            else
            {
                fp += flagged ? 1 : 0;
                tn += flagged ? 0 : 1;
            }
        }

        return new BinaryMetrics { TruePositives = tp, FalsePositives = fp, FalseNegatives = fn, TrueNegatives = tn };
    }

    private static void Check(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(positive);
        if (scores.Count != positive.Count)
        {
            throw new ArgumentException($"{scores.Count} scores but {positive.Count} labels.", nameof(positive));
        }
    }
}
