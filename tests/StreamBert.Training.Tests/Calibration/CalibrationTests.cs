using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Training.Calibration;
using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Tests.Calibration;

public sealed class CalibrationTests(ClaimsMarginsFixture data) : IClassFixture<ClaimsMarginsFixture>
{
    private static double[] Scores(ScoreCalibrator calibrator, float[] margins) => [.. margins.Select(m => calibrator.Probability(m))];

    [Fact]
    public void Fit_ClaimBusterCalibrationPart_LowersEceOnTheHeldOutPart()
    {
        var calibration = CalibrationFitter.Fit(data.CalibrationMargins, data.CalibrationPositive);

        var before = ScoreMetrics.ExpectedCalibrationError(Scores(ScoreCalibrator.Identity, data.HeldOutMargins), data.HeldOutPositive);
        var after = ScoreMetrics.ExpectedCalibrationError(Scores(new ScoreCalibrator(calibration), data.HeldOutMargins), data.HeldOutPositive);

        Assert.True(after < before, $"ECE {before:F4} uncalibrated → {after:F4} with {calibration.Method}");
        Assert.True(after < 0.1, $"ECE after calibration {after:F4}");
        Assert.NotNull(calibration.HeldOutEce);
    }

    [Fact]
    public void Fit_EitherMethod_KeepsTheRanking()
    {
        var calibration = CalibrationFitter.Fit(data.CalibrationMargins, data.CalibrationPositive);
        var raw = Scores(ScoreCalibrator.Identity, data.HeldOutMargins);
        var calibrated = Scores(new ScoreCalibrator(calibration), data.HeldOutMargins);

        // Monotone maps: ranking can only lose resolution to ties (isotonic steps), never order.
        for (var i = 0; i < raw.Length; i++)
        {
            for (var j = 0; j < raw.Length; j++)
            {
                if (raw[i] < raw[j])
                {
                    Assert.True(calibrated[i] <= calibrated[j]);
                }
            }
        }
    }

    [Theory]
    [InlineData(OperatingTarget.MinPrecision, 0.8)]
    [InlineData(OperatingTarget.MaxFalsePositiveRate, 0.01)]
    [InlineData(OperatingTarget.MaxFalsePositiveRate, 0.05)]
    public void Find_Target_IsMetOnTheFittingData(string metric, double value)
    {
        var target = new OperatingTarget { Metric = metric, Value = value };
        var scores = Scores(new ScoreCalibrator(CalibrationFitter.Fit(data.CalibrationMargins, data.CalibrationPositive)), data.CalibrationMargins);

        var point = OperatingPointFinder.Find(scores, data.CalibrationPositive, target);

        var at = ScoreMetrics.AtThreshold(scores, data.CalibrationPositive, point.Threshold);
        Assert.True(point.TargetMet);
        Assert.True(OperatingPointFinder.Meets(target, at), $"{metric} {value}: precision {at.Precision:F4}, FPR {at.FalsePositiveRate:F4}");
        Assert.Equal((at.Precision, at.Recall, at.FalsePositiveRate), (point.Precision, point.Recall, point.FalsePositiveRate));
        Assert.True(at.Recall > 0);
        // The lowest such threshold: the next lower score would break the target (or there is none).
        var lower = scores.Where(s => s < point.Threshold).DefaultIfEmpty(double.NaN).Max();
        if (!double.IsNaN(lower))
        {
            Assert.False(OperatingPointFinder.Meets(target, ScoreMetrics.AtThreshold(scores, data.CalibrationPositive, lower)));
        }

        Assert.Contains(point.Curve, c => c.Threshold == point.Threshold);
        Assert.True(point.Curve.Count <= 20);
    }

    [Fact]
    public void Find_PrecisionNoThresholdReaches_SaysTheTargetIsMissed()
    {
        double[] scores = [0.9, 0.8, 0.7, 0.6];
        bool[] positive = [false, true, false, true];

        var point = OperatingPointFinder.Find(scores, positive, new OperatingTarget { Metric = OperatingTarget.MinPrecision, Value = 0.9 });

        Assert.False(point.TargetMet);
        Assert.Equal(0.8, point.Threshold); // highest precision reached (0.5 at 0.8, and at 0.6 with more recall is also 0.5: first wins)
    }

    [Fact]
    public void FitTemperature_OverconfidentMargins_FindsTheTemperatureThatGeneratedThem()
    {
        // Labels drawn from sigmoid(z / 3): the log-loss optimum is close to T = 3.
        var random = new Random(11);
        var margins = Enumerable.Range(0, 20000).Select(_ => (random.NextDouble() - 0.5) * 24).ToArray();
        var positive = margins.Select(z => random.NextDouble() < 1 / (1 + Math.Exp(-z / 3))).ToArray();

        var fitted = CalibrationFitter.FitTemperature(margins, positive);

        Assert.InRange(fitted.Temperature!.Value, 2.8, 3.2);
    }

    [Fact]
    public void FitIsotonic_ViolatingPairs_PoolsIntoNonDecreasingKnots()
    {
        double[] margins = [-2, -1, 0, 1, 2];
        bool[] positive = [false, true, false, true, true];

        var fitted = CalibrationFitter.FitIsotonic(margins, positive);

        Assert.Equal([(-2.0, 0.0), (-1.0, 0.5), (0.0, 0.5), (1.0, 1.0), (2.0, 1.0)], fitted.Knots!.Select(k => (k.Margin, k.Probability)));
    }
}
