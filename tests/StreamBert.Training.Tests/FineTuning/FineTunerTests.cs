using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.FineTuning;
using StreamBert.Training.Modeling;
using StreamBert.Training.Onnx;
using StreamBert.Training.Tests.Modeling;
using TorchSharp;
using Xunit.Abstractions;

namespace StreamBert.Training.Tests.FineTuning;

/// <summary>
/// The fine-tuning loop on tiny real data (SMS messages cut to 32 pieces): each test loads its own encoder, because
/// training changes it. Runs in the Bert collection so TorchSharp and ONNX Runtime do not fight over the cores.
/// </summary>
[Collection(BertCollection.Name)]
public sealed class FineTunerTests(ITestOutputHelper output) : IDisposable
{
    private const int MaxLength = 32;
    private static readonly Lazy<(WordPieceTokenizer Tokenizer, IReadOnlyList<SequenceExample> Examples)> Data = new(LoadData);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streambert-finetuner-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Train_TinyFullFineTune_LowersLossAndWritesABundleThatLoadsAndMatches()
    {
        using var encoder = BertEncoder.FromOnnx();
        var (tuner, head) = Tuner(encoder, FineTuneMode.Full, epochs: 2);
        var examples = Data.Value.Examples.Take(64).ToList();
        var before = tuner.MeanLoss(examples);

        var result = tuner.Train(examples, [], CancellationToken.None);
        var after = tuner.MeanLoss(examples);
        var manifest = FineTunedBundle.Write(_directory, "v1", new FineTunedBundleRequest
        {
            Name = "spam-full-test",
            Encoder = encoder,
            Heads = [new ExportedHead(TaskNames.Spam, head, LabelSets.SpamLabels)],
            ParityTexts = examples.Skip(40).Take(20).Select(e => e.Text).ToList(),
            MaxSequenceLength = MaxLength,
        });
        using var models = ModelSet.Load([_directory]);

        output.WriteLine($"loss before {before:F4}, after {after:F4}; steps {result.Steps}, {result.ExamplesPerSecond:F1} examples/s; parity {manifest.Training["onnxParityMaxAbsDiff"]}");
        Assert.Equal(8, result.Steps);
        Assert.True(after < before * 0.8, $"mean training loss {before:F4} → {after:F4}");
        Assert.InRange(double.Parse(manifest.Training["onnxParityMaxAbsDiff"], System.Globalization.CultureInfo.InvariantCulture), 0, OnnxParity.DefaultTolerance);
        Assert.Equal(LabelSets.SpamLabels, models.RequiredHead(TaskNames.Spam).Spec.Labels);
    }

    [Fact]
    public void Train_HeadsMode_LeavesEncoderWeightsBitIdenticalAndMovesTheHead()
    {
        using var encoder = BertEncoder.FromOnnx();
        var (tuner, head) = Tuner(encoder, FineTuneMode.Heads, epochs: 1);
        var encoderBefore = encoder.ExportWeights();
        using var headBefore = head.Classifier.weight!.detach().clone();

        tuner.Train(Data.Value.Examples.Take(32).ToList(), [], CancellationToken.None);

        var encoderAfter = encoder.ExportWeights();
        Assert.Equal(encoderBefore.Count, encoderAfter.Count);
        for (var i = 0; i < encoderBefore.Count; i++)
        {
            Assert.Equal(encoderBefore[i].Name, encoderAfter[i].Name);
            Assert.True(encoderBefore[i].Data.AsSpan().SequenceEqual(encoderAfter[i].Data), $"{encoderBefore[i].Name} changed");
        }

        Assert.All(encoder.parameters(), p => Assert.Null(p.grad));
        Assert.False(head.Classifier.weight!.detach().allclose(headBefore, rtol: 0, atol: 0), "the head did not learn");
    }

    [Fact]
    public void Train_CancelledDuringTheFirstStep_StopsBeforeTheSecond()
    {
        using var encoder = BertEncoder.FromOnnx();
        using var cancellation = new CancellationTokenSource();
        var steps = 0;
        var (tuner, _) = Tuner(encoder, FineTuneMode.Full, epochs: 2, onStep: _ =>
        {
            steps++;
            cancellation.Cancel();
        });

        Assert.ThrowsAny<OperationCanceledException>(() => tuner.Train(Data.Value.Examples.Take(64).ToList(), [], cancellation.Token));
        Assert.Equal(1, steps);
    }

    [Fact]
    public void Train_SameSeedTwice_SameLossSequence()
    {
        IReadOnlyList<double> Run()
        {
            using var encoder = BertEncoder.FromOnnx();
            var (tuner, _) = Tuner(encoder, FineTuneMode.Full, epochs: 1);
            return tuner.Train(Data.Value.Examples.Take(48).ToList(), [], CancellationToken.None).Losses;
        }

        var first = Run();
        var second = Run();

        output.WriteLine(string.Join(", ", first.Select(l => l.ToString("F6", System.Globalization.CultureInfo.InvariantCulture))));
        Assert.Equal(3, first.Count);
        Assert.Equal(first, second);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static (SequenceFineTuner Tuner, SequenceClassificationHead Head) Tuner(
        BertEncoder encoder, FineTuneMode mode, int epochs, Action<FineTuneStep>? onStep = null)
    {
        torch.manual_seed(5);
        var head = new SequenceClassificationHead(encoder.Config.Hidden, 2, encoderLayers: encoder.Config.Layers);
        var options = new FineTuneOptions
        {
            Mode = mode,
            Epochs = epochs,
            BatchSize = 16,
            EncoderLearningRate = 1e-4,
            HeadLearningRate = 3e-3,
            ProgressEvery = 0,
            Seed = 3,
        };
        return (new SequenceFineTuner(encoder, head, options) { StepCompleted = onStep }, head);
    }

    // Half spam, half ham, so a tiny run has something to learn either way.
    private static (WordPieceTokenizer, IReadOnlyList<SequenceExample>) LoadData()
    {
        var tokenizer = WordPieceTokenizer.FromFile(MiniLmResources.Ensure().VocabPath);
        var rows = SpamDataReader.Read(Path.Combine(RepositoryRoot(), "data", "sms", "SMSSpamCollection.tsv")).ToList();
        var spam = rows.Where(r => r.Label == LabelSets.Spam).Take(32);
        var ham = rows.Where(r => r.Label == LabelSets.Ham).Take(32);
        var examples = spam.Zip(ham, (s, h) => new[] { s, h }).SelectMany(p => p)
            .Select(r => SequenceExample.Create(tokenizer, r.Text, r.Label == LabelSets.Spam ? 1 : 0, MaxLength))
            .ToList();
        return (tokenizer, examples);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No StreamBert.sln above {AppContext.BaseDirectory}.");
    }
}
