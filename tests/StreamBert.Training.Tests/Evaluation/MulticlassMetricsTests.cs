using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Tests.Evaluation;

public class MulticlassMetricsTests
{
    [Fact]
    public void Compute_MixedPredictions_MatchesHandComputedMacroF1()
    {
        // Class 0: support 3, predicted 2, correct 2 → F1 0.8; class 1: support 1, predicted 2, correct 1 → F1 2/3;
        // class 2: absent from both, so left out of the macro average; class 3: support 1, predicted 1, correct 0 → F1 0.
        int[] gold = [0, 0, 0, 1, 3];
        int[] predicted = [0, 0, 3, 1, 1];

        var m = MulticlassMetrics.Compute(gold, predicted, classCount: 4);

        Assert.Equal(new ClassScores(Support: 3, Predicted: 2, Correct: 2), m.PerClass[0]);
        Assert.Equal(new ClassScores(Support: 0, Predicted: 0, Correct: 0), m.PerClass[2]);
        Assert.Equal(0.8, m.PerClass[0].F1, 12);
        Assert.Equal(2.0 / 3, m.PerClass[1].F1, 12);
        Assert.Equal(0.0, m.PerClass[3].F1, 12);
        Assert.Equal((0.8 + (2.0 / 3) + 0) / 3, m.MacroF1, 12);
        Assert.Equal(3.0 / 5, m.Accuracy, 12);
    }
}
