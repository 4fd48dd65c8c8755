using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Trainer;
using StreamBert.Training.Data;
using StreamBert.Training.Modeling;
using StreamBert.Training.Onnx;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// A training run on a fine-tuned version (its own encoder, one head): the trainer reads the encoder back from the
/// bundle's graph and the head from its served weights, fine-tunes both on the labels, proves the export and
/// publishes a version with a new encoder only when the gate passes.
/// </summary>
public sealed class TrainerFineTuneTests(ITestOutputHelper output) : IDisposable
{
    private const string Bundle = "ner-full";
    private readonly string _registry = Path.Combine(Path.GetTempPath(), "streambert-trainer-ft-" + Guid.NewGuid().ToString("N"));

    [ArticlesFact]
    public void Run_FineTunedCaseTypedNerVersion_ContinuesEncoderAndHeadAndPublishesANewEncoder()
    {
        var registry = new ModelRegistry(_registry);
        var sentences = ConllReader.Read(ArticlesData.ConllTrain).Where(s => s.Tokens.Count is >= 5 and <= 14).Take(150).ToList();
        var parity = sentences.Take(24).Select(s => string.Join(' ', s.Tokens)).ToList();
        using (var encoder = BertEncoder.FromOnnx(caseTypes: true))
        {
            // v1: a fresh head on the case-typed encoder — what `train --mode full --case-types` writes, before training.
            TorchSharp.torch.manual_seed(3);
            using var head = new TokenClassificationHead(encoder.Config.Hidden, LabelSets.NerTags.Count, wordShape: true);
            FineTunedBundle.Write(registry.BundleDirectory(Bundle, "v1"), "v1", new FineTunedBundleRequest
            {
                Name = Bundle,
                Encoder = encoder,
                Heads = [new ExportedHead(TaskNames.Ner, head, LabelSets.NerTags)],
                ParityTexts = parity,
                MaxSequenceLength = 64,
            });
            registry.SetCurrent(Bundle, "v1");
        }

        var parent = registry.ReadManifest(Bundle, "v1");
        var options = new TrainerOptions
        {
            Registry = _registry,
            Bundles = { [TaskNames.Ner] = Bundle },
            LabelWeight = 3,
            FineTuneEpochs = 2,
            FineTuneLearningRate = 1e-4,
            FineTuneHeadLearningRate = 2e-3,
        };
        var log = new StringWriter();

        var outcome = new LabelTrainingJob(options, log).Run(TaskNames.Ner, [], sentences, new Dictionary<string, long> { ["labels.entities/0"] = 300 }, CancellationToken.None);

        output.WriteLine(log.ToString());
        output.WriteLine($"{outcome.Reason}; {string.Join(", ", outcome.Scores.Select(s => $"{s.Set} n {s.N}: {s.Current:F3} → {s.Candidate:F3}"))} in {outcome.Elapsed.TotalSeconds:F0} s");
        var published = Assert.IsType<BundleManifest>(outcome.Published);
        var score = Assert.Single(outcome.Scores);
        Assert.Equal("held-out labels", score.Set);
        Assert.True(score.Candidate > score.Current + 0.1, $"held-out F1 {score.Current} → {score.Candidate}");
        Assert.Equal("v2", published.Version);
        Assert.Equal("v1", published.ParentVersion);
        // The job does not make it current: the service announces it on the models topic first, then marks CURRENT.
        Assert.Equal("v1", registry.CurrentVersion(Bundle));
        Assert.Equal("fine-tuned", published.Training["mode"]);
        Assert.Equal(EncoderRef.CaseTokenTypes, published.Encoder.TokenTypes);
        Assert.NotEqual(parent.Encoder.Sha256, published.Encoder.Sha256);
        Assert.Null(ModelRegistry.Verify(registry.BundleDirectory(Bundle, "v2")));
        using var served = ModelSet.Load([registry.BundleDirectory(Bundle, "v2")]);
        Assert.Equal(published.Version, served.RequiredHead(TaskNames.Ner).Model.Version);
    }

    public void Dispose()
    {
        if (Directory.Exists(_registry))
        {
            Directory.Delete(_registry, recursive: true);
        }
    }
}
