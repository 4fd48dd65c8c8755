using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.FeatureExtraction;
using StreamBert.Training.Heads;

namespace StreamBert.Training.Tests.Calibration;

/// <summary>
/// A claims head trained as the product trains it (frozen MiniLM features, class-balanced loss, which shifts its
/// scores away from the true prior) on ClaimBuster ground truth from the repository's data folder, and its logit
/// margins on two parts it never trained on: one to fit calibration and threshold, one to judge them.
/// </summary>
public sealed class ClaimsMarginsFixture
{
    public ClaimsMarginsFixture()
    {
        var rows = ClaimDataReader.Read(Path.Combine(RepositoryRoot(), "data", "claimbuster", "claimbuster_groundtruth.csv"))
            .Select(r => r.ToLabeledText()).ToList();
        var rowsOf = (int low, int high) => rows.Where(r => DatasetSplit.Bucket(r.Text) is var b && b >= low && b < high).ToList();
        var train = rowsOf(40, 100);
        var calibration = rowsOf(0, 20);
        var heldOut = rowsOf(20, 40);

        var encoder = MiniLmResources.Ensure();
        int[] layers = [3, 4, 5, 6];
        using var session = EncoderSession.FromFile(encoder.ModelPath, layers);
        var extractor = new FeatureExtractor(session, WordPieceTokenizer.FromFile(encoder.VocabPath), 64);
        float[][] Features(List<LabeledText> part) => extractor.Sequences([.. part.Select(r => r.Text)], layers, "mean");
        var head = HeadTrainer.Train(Features(train), [.. train.Select(r => r.Label == "claim" ? 1 : 0)], 2, new HeadTrainerOptions
        {
            HiddenDim = 64,
            MaxEpochs = 15,
            BatchSize = 32,
            LearningRate = 2e-3f,
            BalanceClasses = true,
            Seed = 3,
            ValidationMetric = (gold, predicted) => BinaryMetrics.Compute(gold, predicted, 1).F1,
        }).Head;

        float[] Margins(List<LabeledText> part) => [.. Features(part).Select(x =>
        {
            var logits = new float[2];
            head.Forward(x, logits);
            return logits[1] - logits[0];
        })];

        CalibrationMargins = Margins(calibration);
        CalibrationPositive = [.. calibration.Select(r => r.Label == "claim")];
        HeldOutMargins = Margins(heldOut);
        HeldOutPositive = [.. heldOut.Select(r => r.Label == "claim")];
    }

    public float[] CalibrationMargins { get; }
    public bool[] CalibrationPositive { get; }
    public float[] HeldOutMargins { get; }
    public bool[] HeldOutPositive { get; }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("No StreamBert.sln above " + AppContext.BaseDirectory);
    }
}
