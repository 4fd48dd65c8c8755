using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;

namespace StreamBert.Engine.Tests.Inference;

/// <summary>The served score is the manifest's calibration of the head's margin, cut at the manifest's threshold.</summary>
public sealed class CalibratedScoresTests : IDisposable
{
    private static readonly string[] Texts =
    [
        "WINNER!! You have been selected to receive a £900 prize reward! Call 09061701461 now.",
        "Ok lar... Joking wif u oni...",
        "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005.",
        "I'll be home by seven, want me to pick up some bread?",
    ];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "streambert-calibrated-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        // Not every test writes a bundle.
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void ScoreTexts_TemperatureAndThresholdInManifest_ServesSigmoidOfMarginOverTemperatureAndTheThreshold()
    {
        var plain = WriteBundle("plain", calibration: null, point: null);
        var calibrated = WriteBundle("calibrated", new ScoreCalibration { Method = ScoreCalibration.TemperatureMethod, Temperature = 2.5 }, Point(0.8));

        using var plainSet = ModelSet.Load([plain]);
        using var calibratedSet = ModelSet.Load([calibrated]);
        var margins = new OfflineScorer(plainSet).MarginTexts(Texts, TaskNames.Spam);
        var plainScores = new OfflineScorer(plainSet).ScoreTexts(Texts, TaskNames.Spam);
        var calibratedScores = new OfflineScorer(calibratedSet).ScoreTexts(Texts, TaskNames.Spam);

        Assert.Contains(margins, m => Math.Abs(m) > 0.5f); // the head is not constant, so the test can tell the maps apart
        for (var i = 0; i < Texts.Length; i++)
        {
            Assert.Equal(1 / (1 + Math.Exp(-margins[i])), plainScores[i], 5);
            Assert.Equal(1 / (1 + Math.Exp(-margins[i] / 2.5)), calibratedScores[i], 5);
        }

        Assert.Equal(TaskHead.DefaultThreshold, plainSet.RequiredHead(TaskNames.Spam).Threshold);
        Assert.Equal(0.8, calibratedSet.RequiredHead(TaskNames.Spam).Threshold);
        var work = new SequenceWork { Ids = [101, 2054, 102], Tasks = TaskSet.Spam };
        calibratedSet.Run([work]);
        Assert.Equal(0.8, work.SpamThreshold);
        Assert.Equal((float)(1 / (1 + Math.Exp(-work.SpamMargin / 2.5))), work.SpamScore, 5);
    }

    [Fact]
    public void ScoreTexts_IsotonicKnots_InterpolatesBetweenKnotsAndClampsBeyond()
    {
        var knots = new List<CalibrationKnot> { new(-1, 0.1), new(0, 0.2), new(1, 0.9) };
        var calibrator = new ScoreCalibrator(new ScoreCalibration { Method = ScoreCalibration.IsotonicMethod, Knots = knots });

        Assert.Equal(0.1, calibrator.Probability(-5), 12);
        Assert.Equal(0.15, calibrator.Probability(-0.5), 12);
        Assert.Equal(0.2, calibrator.Probability(0), 12);
        Assert.Equal(0.55, calibrator.Probability(0.5), 12);
        Assert.Equal(0.9, calibrator.Probability(7), 12);
    }

    [Fact]
    public void Load_IsotonicKnotsOutOfOrder_RefusesTheBundle()
    {
        var broken = WriteBundle("broken", new ScoreCalibration
        {
            Method = ScoreCalibration.IsotonicMethod,
            Knots = [new(0, 0.5), new(1, 0.4)],
        }, null);

        var error = Assert.Throws<InvalidDataException>(() => ModelSet.Load([broken]));
        Assert.Contains("knot", error.Message, StringComparison.Ordinal);
    }

    private static OperatingPoint Point(double threshold) => new()
    {
        Target = new OperatingTarget { Metric = OperatingTarget.MaxFalsePositiveRate, Value = 0.01 },
        Threshold = threshold,
        TargetMet = true,
        Precision = 1,
        Recall = 0.5,
        FalsePositiveRate = 0,
        N = 4,
        Positives = 2,
        Curve = [new CurvePoint(threshold, 1, 0.5, 0)],
    };

    /// <summary>A spam bundle on the pretrained encoder with a linear head whose weights are a fixed pseudo-random pattern.</summary>
    private string WriteBundle(string name, ScoreCalibration? calibration, OperatingPoint? point)
    {
        var encoder = MiniLmResources.Ensure();
        var dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        File.Copy(encoder.VocabPath, Path.Combine(dir, "vocab.txt"));
        int[] layers = [6];
        var head = new DenseHead(Features.Width(384, layers.Length), 0, 2);
        var random = new Random(5);
        var weights = head.OutputWeightsArray;
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = (float)((random.NextDouble() - 0.5) * 2);
        }

        using (var stream = File.Create(Path.Combine(dir, "spam.head")))
        {
            head.Save(stream);
        }

        var manifest = new BundleManifest
        {
            Name = "spam",
            Version = "v1",
            CreatedAt = DateTimeOffset.UnixEpoch,
            Encoder = new EncoderRef { Base = encoder.Name, Sha256 = encoder.ModelSha256 },
            Heads = new Dictionary<string, HeadSpec>
            {
                [TaskNames.Spam] = new HeadSpec
                {
                    Kind = "sequence",
                    Labels = LabelSets.SpamLabels,
                    Layers = layers,
                    File = "spam.head",
                    Calibration = calibration,
                    OperatingPoint = point,
                },
            },
            Files = ModelRegistry.HashFiles(dir),
        };
        File.WriteAllText(Path.Combine(dir, ModelRegistry.ManifestFile), JsonSerializer.Serialize(manifest, ModelRegistry.Json));
        return dir;
    }
}
