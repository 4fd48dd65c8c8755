using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Tests.Evaluation;

public class BinaryMetricsTests
{
    [Fact]
    public void Compute_MixedPredictions_MatchesHandComputedScores()
    {
        string[] gold = ["spam", "spam", "ham", "ham", "spam", "ham", "ham"];
        string[] predicted = ["spam", "ham", "spam", "ham", "spam", "ham", "ham"];

        var m = BinaryMetrics.Compute(gold, predicted, "spam");

        // TP 2 (0, 4), FN 1 (1), FP 1 (2), TN 3.
        Assert.Equal((2, 1, 1, 3, 7), (m.TruePositives, m.FalsePositives, m.FalseNegatives, m.TrueNegatives, m.N));
        Assert.Equal(5.0 / 7, m.Accuracy, 12);
        Assert.Equal(2.0 / 3, m.Precision, 12);
        Assert.Equal(2.0 / 3, m.Recall, 12);
        Assert.Equal(2.0 / 3, m.F1, 12);
    }

    [Fact]
    public void Compute_NoPositivePredictions_GivesZeroPrecisionAndF1()
    {
        var m = BinaryMetrics.Compute([1, 0, 0, 0], [0, 0, 0, 0], positive: 1);

        Assert.Equal((0.75, 0.0, 0.0, 0.0), (m.Accuracy, m.Precision, m.Recall, m.F1));
    }

    [Fact]
    public void Compute_AsymmetricErrors_F1IsHarmonicMean()
    {
        // TP 3, FP 3, FN 1: P = 0.5, R = 0.75, F1 = 0.6.
        var m = BinaryMetrics.Compute(
            [1, 1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 1, 1, 1, 0], positive: 1);

        Assert.Equal((0.5, 0.75), (m.Precision, m.Recall));
        Assert.Equal(0.6, m.F1, 12);
    }

    [Fact]
    public void Compute_LengthMismatch_Throws()
    {
        Assert.Throws<ArgumentException>(() => BinaryMetrics.Compute(["a"], ["a", "b"], "a"));
    }
}
