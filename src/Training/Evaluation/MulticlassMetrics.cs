namespace StreamBert.Training.Evaluation;

/// <summary>Precision, recall and F1 of one class, with its gold count (support) and prediction count.</summary>
public sealed record ClassScores(int Support, int Predicted, int Correct)
{
    /// <summary>Correct / Predicted (0 when nothing was predicted).</summary>
    public double Precision => BinaryMetrics.Ratio(Correct, Predicted);

    /// <summary>Correct / Support (0 when the class has no gold examples).</summary>
    public double Recall => BinaryMetrics.Ratio(Correct, Support);

    /// <summary>2·Correct / (Support + Predicted).</summary>
    public double F1 => BinaryMetrics.Ratio(2.0 * Correct, Support + Predicted);
}

/// <summary>
/// Accuracy and per-class scores of a multi-class decision over class indices 0..C−1. <see cref="MacroF1"/> averages F1
/// over the classes that occur in the gold labels or the predictions (scikit-learn's default), so a class absent
/// from both does not count as a perfect or a zero score.
/// </summary>
public sealed record MulticlassMetrics
{
    /// <summary>Number of examples.</summary>
    public required int N { get; init; }

    /// <summary>Fraction of examples predicted correctly.</summary>
    public required double Accuracy { get; init; }

    /// <summary>Scores per class index.</summary>
    public required IReadOnlyList<ClassScores> PerClass { get; init; }

    /// <summary>Unweighted mean F1 over classes present in gold or predictions; 0 for no examples.</summary>
    public required double MacroF1 { get; init; }

    /// <summary>Scores predicted against gold class indices.</summary>
    public static MulticlassMetrics Compute(IReadOnlyList<int> gold, IReadOnlyList<int> predicted, int classCount)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 1);
        if (gold.Count != predicted.Count)
        {
            throw new ArgumentException($"{gold.Count} gold labels but {predicted.Count} predictions.", nameof(predicted));
        }

        var support = new int[classCount];
        var predictedCount = new int[classCount];
        var correct = new int[classCount];
        for (int i = 0; i < gold.Count; i++)
        {
            int g = gold[i], p = predicted[i];
            if ((uint)g >= (uint)classCount || (uint)p >= (uint)classCount)
            {
                throw new ArgumentException($"Label at {i} is outside 0..{classCount - 1} (gold {g}, predicted {p}).");
            }

            support[g]++;
            predictedCount[p]++;
            if (g == p)
            {
                correct[g]++;
            }
        }

        var perClass = new ClassScores[classCount];
        double f1Sum = 0;
        int present = 0;
        for (int c = 0; c < classCount; c++)
        {
            perClass[c] = new ClassScores(support[c], predictedCount[c], correct[c]);
            if (support[c] + predictedCount[c] > 0)
            {
                f1Sum += perClass[c].F1;
                present++;
            }
        }

        return new MulticlassMetrics
        {
            N = gold.Count,
            Accuracy = BinaryMetrics.Ratio(correct.Sum(), gold.Count),
            PerClass = perClass,
            MacroF1 = BinaryMetrics.Ratio(f1Sum, present),
        };
    }
}
