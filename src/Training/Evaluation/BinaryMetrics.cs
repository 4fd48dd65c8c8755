namespace StreamBert.Training.Evaluation;

/// <summary>
/// Confusion counts and scores of a binary decision (one positive class against everything else).
/// Precision, recall and F1 are 0 when their denominator is 0 (no positive predictions, no positive gold),
/// as scikit-learn reports them by default.
/// </summary>
public sealed record BinaryMetrics
{
    /// <summary>Positive gold, predicted positive.</summary>
    public required int TruePositives { get; init; }

    /// <summary>Negative gold, predicted positive.</summary>
    public required int FalsePositives { get; init; }

    /// <summary>Positive gold, predicted negative.</summary>
    public required int FalseNegatives { get; init; }

    /// <summary>Negative gold, predicted negative.</summary>
    public required int TrueNegatives { get; init; }

    /// <summary>Number of examples.</summary>
    public int N => TruePositives + FalsePositives + FalseNegatives + TrueNegatives;

    /// <summary>(TP + TN) / N; 0 for no examples.</summary>
    public double Accuracy => Ratio(TruePositives + TrueNegatives, N);

    /// <summary>TP / (TP + FP).</summary>
    public double Precision => Ratio(TruePositives, TruePositives + FalsePositives);

    /// <summary>TP / (TP + FN).</summary>
    public double Recall => Ratio(TruePositives, TruePositives + FalseNegatives);

    /// <summary>FP / (FP + TN): the share of negatives flagged (ham lost to the spam folder).</summary>
    public double FalsePositiveRate => Ratio(FalsePositives, FalsePositives + TrueNegatives);

    /// <summary>Harmonic mean of precision and recall, 2·TP / (2·TP + FP + FN).</summary>
    public double F1 => Ratio(2 * TruePositives, 2 * TruePositives + FalsePositives + FalseNegatives);

    /// <summary>Counts gold against predicted labels, position by position.</summary>
    /// <param name="gold">Gold labels.</param>
    /// <param name="predicted">Predicted labels, as many as <paramref name="gold"/>.</param>
    /// <param name="positive">The positive class (for example <c>spam</c> or <c>claim</c>).</param>
    public static BinaryMetrics Compute<TLabel>(IReadOnlyList<TLabel> gold, IReadOnlyList<TLabel> predicted, TLabel positive)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        if (gold.Count != predicted.Count)
        {
            throw new ArgumentException($"{gold.Count} gold labels but {predicted.Count} predictions.", nameof(predicted));
        }

        var comparer = EqualityComparer<TLabel>.Default;
        int tp = 0, fp = 0, fn = 0, tn = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            bool g = comparer.Equals(gold[i], positive);
            bool p = comparer.Equals(predicted[i], positive);
            if (g && p)
            {
                tp++;
            }
            else if (p)
            {
                fp++;
            }
            else if (g)
            {
                fn++;
            }
            else
            {
                tn++;
            }
        }

        return new BinaryMetrics { TruePositives = tp, FalsePositives = fp, FalseNegatives = fn, TrueNegatives = tn };
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"n={N} acc={Accuracy:F4} P={Precision:F4} R={Recall:F4} F1={F1:F4} (TP={TruePositives} FP={FalsePositives} FN={FalseNegatives} TN={TrueNegatives})";

    internal static double Ratio(double numerator, double denominator) => denominator == 0 ? 0 : numerator / denominator;
}
