using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.Evaluation;
using StreamBert.Training.Jobs;

namespace StreamBert.Training.Tests.Calibration;

public class OperatingGateTests
{
    private static readonly OperatingTarget Fpr1 = new() { Metric = OperatingTarget.MaxFalsePositiveRate, Value = 0.01 };
    private static readonly OperatingTarget Precision80 = new() { Metric = OperatingTarget.MinPrecision, Value = 0.8 };

    private static EvaluationReport Report(double precision, double recall, double fpr, double f1) => new()
    {
        Task = TaskNames.Spam,
        Model = new ModelRef("spam", "v1"),
        N = 1000,
        Precision = precision,
        Recall = recall,
        F1 = f1,
        FalsePositiveRate = fpr,
        Threshold = 0.5,
    };

    [Fact]
    public void Judge_CandidateMissesFprTargetTheCurrentMeets_Refuses()
    {
        var reason = QualityGate.Judge("held-out labels", Report(0.95, 0.90, 0.008, 0.92), Report(0.90, 0.97, 0.03, 0.935), Fpr1, currentHasOperatingPoint: true, 0.005);

        Assert.NotNull(reason);
        Assert.Contains("misses FPR <= 0.01", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_CandidateMissesPrecisionTargetWithBetterF1_StillRefuses()
    {
        var reason = QualityGate.Judge("claimbuster_groundtruth.csv", Report(0.85, 0.6, 0.05, 0.70), Report(0.7, 0.9, 0.15, 0.79), Precision80, currentHasOperatingPoint: false, 0.005);

        Assert.NotNull(reason);
        Assert.Contains("misses precision >= 0.8", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_BothMeetTargetCandidateLosesRecall_Refuses()
    {
        var reason = QualityGate.Judge("set", Report(0.97, 0.90, 0.005, 0.93), Report(0.98, 0.80, 0.004, 0.88), Fpr1, currentHasOperatingPoint: true, 0.005);

        Assert.NotNull(reason);
        Assert.Contains("recall at FPR <= 0.01", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_BothMeetTargetCandidateGainsRecall_Passes() =>
        Assert.Null(QualityGate.Judge("set", Report(0.97, 0.80, 0.005, 0.88), Report(0.97, 0.90, 0.006, 0.93), Fpr1, currentHasOperatingPoint: true, 0.005));

    [Fact]
    public void Judge_NewDomainBothMissCandidateCloser_Passes() =>
        // Adapting to a domain neither version fits yet: refusing would stop the review loop from ever getting there.
        Assert.Null(QualityGate.Judge("enron labels", Report(0.6, 0.9, 0.2, 0.72), Report(0.8, 0.85, 0.05, 0.82), Fpr1, currentHasOperatingPoint: true, 0.005));

    [Fact]
    public void Judge_NewDomainBothMissCandidateFurther_Refuses() =>
        Assert.NotNull(QualityGate.Judge("enron labels", Report(0.8, 0.85, 0.05, 0.82), Report(0.6, 0.9, 0.2, 0.72), Fpr1, currentHasOperatingPoint: true, 0.005));

    [Fact]
    public void Judge_NoTarget_ComparesF1AsBefore()
    {
        Assert.NotNull(QualityGate.Judge("set", Report(0.9, 0.9, 0.01, 0.90), Report(0.9, 0.8, 0.01, 0.85), null, currentHasOperatingPoint: false, 0.005));
        Assert.Null(QualityGate.Judge("set", Report(0.9, 0.9, 0.01, 0.90), Report(0.9, 0.9, 0.01, 0.898), null, currentHasOperatingPoint: false, 0.005));
    }

    [Fact]
    public void Manifest_CalibrationAndOperatingPoint_RoundTripThroughJson()
    {
        var spec = new HeadSpec
        {
            Kind = "sequence",
            Labels = LabelSets.SpamLabels,
            Layers = [3, 4, 5, 6],
            File = "spam.head",
            Calibration = new ScoreCalibration { Method = ScoreCalibration.IsotonicMethod, Knots = [new(-3, 0.01), new(2.5, 0.97)], HeldOutEce = 0.012, FittedOn = "809 rows" },
            OperatingPoint = new OperatingPoint
            {
                Target = Fpr1,
                Threshold = 0.2797,
                TargetMet = true,
                Precision = 0.94,
                Recall = 0.93,
                FalsePositiveRate = 0.0086,
                N = 809,
                Positives = 112,
                Curve = [new CurvePoint(0.1, 0.82, 0.95, 0.033), new CurvePoint(0.2797, 0.94, 0.93, 0.0086)],
            },
        };

        var back = JsonSerializer.Deserialize<HeadSpec>(JsonSerializer.Serialize(spec, ModelRegistry.Json), ModelRegistry.Json)!;

        Assert.Equal(spec.Calibration.Method, back.Calibration!.Method);
        Assert.Equal(spec.Calibration.Knots, back.Calibration.Knots);
        Assert.Equal(spec.Calibration.HeldOutEce, back.Calibration.HeldOutEce);
        Assert.Equal(spec.OperatingPoint.Target, back.OperatingPoint!.Target);
        Assert.Equal(spec.OperatingPoint.Curve, back.OperatingPoint.Curve);
        Assert.Equal(spec.OperatingPoint with { Curve = back.OperatingPoint.Curve }, back.OperatingPoint);
    }

    [Fact]
    public void Manifest_WrittenBeforeCalibration_ReadsAsNoCalibrationAndNoOperatingPoint()
    {
        const string old = """{"kind":"sequence","labels":["ham","spam"],"layers":[3,4,5,6],"pooling":"mean","wordShape":false,"file":"spam.head"}""";

        var spec = JsonSerializer.Deserialize<HeadSpec>(old, ModelRegistry.Json)!;

        Assert.Null(spec.Calibration);
        Assert.Null(spec.OperatingPoint);
    }

    [Fact]
    public void ScoreMetrics_HandComputedExample_MatchesRocPrAndEce()
    {
        double[] scores = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1];
        bool[] positive = [true, false, true, true, false, false];

        // Pairs positive > negative: 0.9 beats 3, 0.7 beats 2, 0.6 beats 2 → 7 of 9.
        Assert.Equal(7.0 / 9, ScoreMetrics.RocAuc(scores, positive), 12);
        // Precision at each positive: 1/1, 2/3, 3/4 → mean over 3 positives.
        Assert.Equal((1 + (2.0 / 3) + 0.75) / 3, ScoreMetrics.PrAuc(scores, positive), 12);
        var table = ScoreMetrics.Reliability(scores, positive);
        Assert.Equal(10, table.Count);
        Assert.Equal(6, table.Sum(b => b.N));
        // Bins 1,2,6,7,8,9 hold one each: |0.1-0|+|0.2-0|+|0.6-1|+|0.7-1|+|0.8-0|+|0.9-1| over 6.
        Assert.Equal((0.1 + 0.2 + 0.4 + 0.3 + 0.8 + 0.1) / 6, ScoreMetrics.ExpectedCalibrationError(table), 12);
        var at = ScoreMetrics.AtThreshold(scores, positive, 0.65);
        Assert.Equal((2, 1, 1, 2), (at.TruePositives, at.FalsePositives, at.FalseNegatives, at.TrueNegatives));
        Assert.Equal(1.0 / 3, at.FalsePositiveRate, 12);
    }
}
