using StreamBert.Contracts;

namespace StreamBert.Engine.Heads;

/// <summary>
/// Applies a manifest's <see cref="ScoreCalibration"/> to a binary head's logit margin. Works on the margin rather
/// than on the softmax output because a float softmax saturates at 1.0 long before the margin stops growing, and
/// the spam threshold for a 1% false-positive rate sits in that saturated range.
/// </summary>
public sealed class ScoreCalibrator
{
    private readonly double _temperature = 1.0;
    private readonly double[]? _margins;
    private readonly double[]? _probabilities;

    /// <summary>No calibration: the plain softmax of two logits, sigmoid(margin).</summary>
    public static ScoreCalibrator Identity { get; } = new(null);

    public ScoreCalibrator(ScoreCalibration? calibration)
    {
        switch (calibration?.Method)
        {
            case null:
                break;
            case ScoreCalibration.TemperatureMethod:
                var temperature = calibration.Temperature ?? throw new InvalidDataException("Temperature calibration without a temperature.");
                if (!(temperature > 0) || double.IsInfinity(temperature))
                {
                    throw new InvalidDataException($"Calibration temperature {temperature} is not a positive number.");
                }

                _temperature = temperature;
                break;
            case ScoreCalibration.IsotonicMethod:
                var knots = calibration.Knots ?? throw new InvalidDataException("Isotonic calibration without knots.");
                if (knots.Count == 0)
                {
                    throw new InvalidDataException("Isotonic calibration with no knots.");
                }

                for (var i = 0; i < knots.Count; i++)
                {
                    var (margin, probability) = (knots[i].Margin, knots[i].Probability);
                    if (!double.IsFinite(margin) || probability is < 0 or > 1 || double.IsNaN(probability)
                        || (i > 0 && (margin <= knots[i - 1].Margin || probability < knots[i - 1].Probability)))
                    {
                        throw new InvalidDataException($"Isotonic knot {i} ({margin}, {probability}) breaks the order or range of the map.");
                    }
                }

                _margins = [.. knots.Select(k => k.Margin)];
                _probabilities = [.. knots.Select(k => k.Probability)];
                break;
            default:
                throw new InvalidDataException($"Unknown calibration method '{calibration.Method}'.");
        }
    }

    /// <summary>The calibrated probability of the positive class for logit margin <paramref name="margin"/>.</summary>
    public double Probability(double margin)
    {
        if (_margins is null)
        {
            return 1.0 / (1.0 + Math.Exp(-margin / _temperature));
        }

        var probabilities = _probabilities!;
        if (margin <= _margins[0])
        {
            return probabilities[0];
        }

        if (margin >= _margins[^1])
        {
            return probabilities[^1];
        }

        var upper = Array.BinarySearch(_margins, margin);
        if (upper >= 0)
        {
            return probabilities[upper];
        }

        upper = ~upper;
        var lower = upper - 1;
        var t = (margin - _margins[lower]) / (_margins[upper] - _margins[lower]);
        return probabilities[lower] + (t * (probabilities[upper] - probabilities[lower]));
    }
}
