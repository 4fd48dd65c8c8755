using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Calibration;

/// <summary>
/// Fits a <see cref="ScoreCalibration"/> on held-out logit margins: temperature scaling (one parameter, keeps the
/// ranking and the 0.5 point) and isotonic regression (monotone, any shape — it also corrects a shifted prior, which
/// a class-balanced head has). Which one ships is decided by measured ECE on data neither was fitted on: two-fold
/// cross-fitting over the calibration rows, then the winner is refitted on all of them.
/// </summary>
public static class CalibrationFitter
{
    /// <summary>Margins beyond this are treated as this: past it sigmoid is 1 to double precision anyway.</summary>
    private const double MaxMargin = 40;

    public static ScoreCalibration Fit(IReadOnlyList<float> margins, IReadOnlyList<bool> positive, string? fittedOn = null)
    {
        ArgumentNullException.ThrowIfNull(margins);
        ArgumentNullException.ThrowIfNull(positive);
        if (margins.Count != positive.Count)
        {
            throw new ArgumentException($"{margins.Count} margins but {positive.Count} labels.", nameof(positive));
        }

        if (!positive.Contains(true) || !positive.Contains(false))
        {
            throw new ArgumentException("Calibration needs both classes among its rows.", nameof(positive));
        }

        var x = margins.Select(m => Math.Clamp((double)m, -MaxMargin, MaxMargin)).ToArray();
        var temperatureEce = CrossFittedEce(x, positive, FitTemperature);
        var isotonicEce = CrossFittedEce(x, positive, FitIsotonic);
        var (fit, ece) = isotonicEce < temperatureEce ? ((Func<double[], IReadOnlyList<bool>, ScoreCalibration>)FitIsotonic, isotonicEce) : (FitTemperature, temperatureEce);
        return fit(x, positive) with { HeldOutEce = ece, FittedOn = fittedOn };
    }

    /// <summary>The temperature minimising log loss of sigmoid(margin / T) (golden-section search over log T).</summary>
    public static ScoreCalibration FitTemperature(double[] margins, IReadOnlyList<bool> positive)
    {
        double Loss(double logTemperature)
        {
            var inverse = Math.Exp(-logTemperature);
            double loss = 0;
            for (var i = 0; i < margins.Length; i++)
            {
                // log(1 + e^-z) for the true class's signed margin, computed without overflow.
                var z = (positive[i] ? margins[i] : -margins[i]) * inverse;
                loss += z > 0 ? Math.Log(1 + Math.Exp(-z)) : -z + Math.Log(1 + Math.Exp(z));
            }

            return loss;
        }

        // The loss is unimodal in the inverse temperature (logistic regression with one coefficient), so in log T too.
        double low = Math.Log(0.02), high = Math.Log(50);
        var ratio = (Math.Sqrt(5) - 1) / 2;
        double a = high - (ratio * (high - low)), b = low + (ratio * (high - low));
        double fa = Loss(a), fb = Loss(b);
        for (var iteration = 0; iteration < 80; iteration++)
        {
            if (fa < fb)
            {
                high = b;
                b = a;
                fb = fa;
                a = high - (ratio * (high - low));
                fa = Loss(a);
            }
            else
            {
                low = a;
                a = b;
                fa = fb;
                b = low + (ratio * (high - low));
                fb = Loss(b);
            }
        }

        return new ScoreCalibration { Method = ScoreCalibration.TemperatureMethod, Temperature = Math.Exp((low + high) / 2) };
    }

    /// <summary>
    /// Isotonic regression of the label on the margin (pool adjacent violators, rows of one margin pooled first). Each
    /// block becomes a knot at its lowest and highest margin; the map is linear between blocks.
    /// </summary>
    public static ScoreCalibration FitIsotonic(double[] margins, IReadOnlyList<bool> positive)
    {
        var order = Enumerable.Range(0, margins.Length).OrderBy(i => margins[i]).ToArray();
        var blocks = new List<(double Low, double High, double Sum, int Count)>();
        for (var k = 0; k < order.Length;)
        {
            var margin = margins[order[k]];
            double sum = 0;
            var count = 0;
            while (k < order.Length && margins[order[k]] == margin)
            {
                sum += positive[order[k]] ? 1 : 0;
                count++;
                k++;
            }

            blocks.Add((margin, margin, sum, count));
            while (blocks.Count > 1 && blocks[^2].Sum / blocks[^2].Count >= blocks[^1].Sum / blocks[^1].Count)
            {
                var (last, before) = (blocks[^1], blocks[^2]);
                blocks.RemoveRange(blocks.Count - 2, 2);
                blocks.Add((before.Low, last.High, before.Sum + last.Sum, before.Count + last.Count));
            }
        }

        var knots = new List<CalibrationKnot>();
        foreach (var block in blocks)
        {
            var probability = block.Sum / block.Count;
            knots.Add(new CalibrationKnot(block.Low, probability));
            if (block.High > block.Low)
            {
                knots.Add(new CalibrationKnot(block.High, probability));
            }
        }

        return new ScoreCalibration { Method = ScoreCalibration.IsotonicMethod, Knots = knots };
    }

    /// <summary>ECE of out-of-fold predictions: fit on even rows, predict odd ones, and the other way round.</summary>
    private static double CrossFittedEce(double[] margins, IReadOnlyList<bool> positive, Func<double[], IReadOnlyList<bool>, ScoreCalibration> fit)
    {
        var predictions = new double[margins.Length];
        for (var fold = 0; fold < 2; fold++)
        {
            var trainRows = Enumerable.Range(0, margins.Length).Where(i => i % 2 != fold).ToArray();
            var trainLabels = trainRows.Select(i => positive[i]).ToArray();
            if (!trainLabels.Contains(true) || !trainLabels.Contains(false))
            {
                // Too few rows to cross-fit (a fold lacks a class): rank this method by its in-sample fit instead.
                trainRows = [.. Enumerable.Range(0, margins.Length)];
                trainLabels = [.. positive];
            }

            var calibrator = new ScoreCalibrator(fit([.. trainRows.Select(i => margins[i])], trainLabels));
            for (var i = fold; i < margins.Length; i += 2)
            {
                predictions[i] = calibrator.Probability(margins[i]);
            }
        }

        return ScoreMetrics.ExpectedCalibrationError(predictions, positive);
    }
}
