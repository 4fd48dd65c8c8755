using StreamBert.Engine.Heads;
using StreamBert.Training.Heads;

namespace StreamBert.Training.Tests.Heads;

public class HeadTrainerTests
{
    /// <summary>Gaussian blobs around well-separated random centres.</summary>
    private static (float[][] X, int[] Y) Blobs(int rows, int dim, int classes, float spread, int seed)
    {
        var random = new Random(seed);
        var centres = Enumerable.Range(0, classes)
            .Select(_ => Enumerable.Range(0, dim).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray()).ToArray();
        var x = new float[rows][];
        var y = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            y[i] = random.Next(classes);
            x[i] = centres[y[i]].Select(c => c + (spread * Gaussian(random))).ToArray();
        }

        return (x, y);
    }

    /// <summary>XOR of the signs of two coordinates, points kept away from the axes; plus noise dimensions.</summary>
    private static (float[][] X, int[] Y) Xor(int rows, int seed)
    {
        var random = new Random(seed);
        var x = new float[rows][];
        var y = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            float a = (float)(random.NextDouble() * 0.9 + 0.1) * (random.Next(2) == 0 ? -1 : 1);
            float b = (float)(random.NextDouble() * 0.9 + 0.1) * (random.Next(2) == 0 ? -1 : 1);
            x[i] = [a, b, (float)random.NextDouble(), (float)random.NextDouble()];
            y[i] = (a > 0) ^ (b > 0) ? 1 : 0;
        }

        return (x, y);
    }

    private static float Gaussian(Random random) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));

    private static double Accuracy(DenseHead head, float[][] x, int[] y) =>
        x.Select((row, i) => head.Predict(row) == y[i] ? 1.0 : 0.0).Average();

    private sealed class Recorder : IProgress<HeadEpochProgress>
    {
        public List<HeadEpochProgress> Reports { get; } = [];

        public void Report(HeadEpochProgress value) => Reports.Add(value);
    }

    [Fact]
    public void Train_SeparableBlobs_LinearHeadReaches99PercentOnHeldOutData()
    {
        var (x, y) = Blobs(3000, dim: 32, classes: 4, spread: 1.5f, seed: 1);
        var (testX, testY) = Blobs(1000, dim: 32, classes: 4, spread: 1.5f, seed: 1);

        var result = HeadTrainer.Train(x, y, 4, new HeadTrainerOptions { MaxEpochs = 10 });

        Assert.True(Accuracy(result.Head, testX, testY) >= 0.99, $"accuracy {Accuracy(result.Head, testX, testY)}");
        Assert.Equal((0, HeadActivation.None, 32, 4), (result.Head.HiddenDim, result.Head.Activation, result.Head.InputDim, result.Head.ClassCount));
        Assert.Equal((2700, 300), (result.TrainRows, result.ValidationRows));
        Assert.True(result.BestValidationMetric >= 0.99);
    }

    [Fact]
    public void Train_Xor_NeedsTheHiddenLayer()
    {
        var (x, y) = Xor(2000, seed: 2);
        var (testX, testY) = Xor(1000, seed: 3);

        var linear = HeadTrainer.Train(x, y, 2, new HeadTrainerOptions { MaxEpochs = 30, LearningRate = 0.01f });
        var relu = HeadTrainer.Train(x, y, 2, new HeadTrainerOptions { HiddenDim = 16, MaxEpochs = 60, LearningRate = 0.01f, Patience = 10 });
        var gelu = HeadTrainer.Train(x, y, 2, new HeadTrainerOptions
        {
            HiddenDim = 16, Activation = HeadActivation.Gelu, MaxEpochs = 60, LearningRate = 0.01f, Patience = 10,
        });

        Assert.InRange(Accuracy(linear.Head, testX, testY), 0.0, 0.7);
        Assert.True(Accuracy(relu.Head, testX, testY) >= 0.97, $"ReLU accuracy {Accuracy(relu.Head, testX, testY)}");
        Assert.True(Accuracy(gelu.Head, testX, testY) >= 0.97, $"GELU accuracy {Accuracy(gelu.Head, testX, testY)}");
    }

    [Fact]
    public void Train_SameSeed_GivesIdenticalWeightsWhateverTheThreadCount()
    {
        var (x, y) = Blobs(700, dim: 70, classes: 3, spread: 3f, seed: 4);
        HeadTrainerOptions Options(int threads, int seed) => new()
        {
            HiddenDim = 24, MaxEpochs = 3, BatchSize = 64, Seed = seed, MaxDegreeOfParallelism = threads,
        };

        var first = HeadTrainer.Train(x, y, 3, Options(2, seed: 5)).Head;
        var again = HeadTrainer.Train(x, y, 3, Options(2, seed: 5)).Head;
        var oneThread = HeadTrainer.Train(x, y, 3, Options(1, seed: 5)).Head;
        var otherSeed = HeadTrainer.Train(x, y, 3, Options(2, seed: 6)).Head;

        foreach (var other in new[] { again, oneThread })
        {
            Assert.Equal(first.HiddenWeights.ToArray(), other.HiddenWeights.ToArray());
            Assert.Equal(first.HiddenBias.ToArray(), other.HiddenBias.ToArray());
            Assert.Equal(first.OutputWeights.ToArray(), other.OutputWeights.ToArray());
            Assert.Equal(first.OutputBias.ToArray(), other.OutputBias.ToArray());
            Assert.Equal(first.FeatureMean.ToArray(), other.FeatureMean.ToArray());
        }

        Assert.NotEqual(first.HiddenWeights.ToArray(), otherSeed.HiddenWeights.ToArray());
    }

    [Fact]
    public void Train_Progress_ReportsEveryEpochAndLossFalls()
    {
        var (x, y) = Blobs(1000, dim: 16, classes: 3, spread: 2f, seed: 7);
        var recorder = new Recorder();

        var result = HeadTrainer.Train(x, y, 3, new HeadTrainerOptions { MaxEpochs = 5, Patience = 5, BatchSize = 32 }, recorder);

        Assert.Equal([1, 2, 3, 4, 5], recorder.Reports.Select(r => r.Epoch));
        Assert.Equal(result.Epochs, recorder.Reports);
        Assert.True(recorder.Reports[^1].TrainLoss < recorder.Reports[0].TrainLoss / 2,
            $"loss should fall: {string.Join(", ", recorder.Reports.Select(r => r.TrainLoss))}");
        Assert.All(recorder.Reports, r => Assert.InRange(r.ValidationMetric, 0, 1));
    }

    [Fact]
    public void Train_MetricThatNeverImproves_StopsAfterPatienceAndKeepsTheBestEpoch()
    {
        var (x, y) = Blobs(500, dim: 8, classes: 2, spread: 1f, seed: 8);
        int calls = 0;

        var result = HeadTrainer.Train(x, y, 2, new HeadTrainerOptions
        {
            MaxEpochs = 20, Patience = 2, ValidationMetric = (gold, predicted) => calls++ == 0 ? 1.0 : 0.5,
        });

        Assert.Equal(3, result.Epochs.Count);
        Assert.True(result.StoppedEarly);
        Assert.Equal((1, 1.0), (result.BestEpoch, result.BestValidationMetric));
        Assert.Equal([true, false, false], result.Epochs.Select(e => e.Improved));
    }

    [Fact]
    public void Train_ExplicitValidationRows_AreHeldOutAndPassedToTheMetricInOrder()
    {
        var (x, y) = Blobs(300, dim: 6, classes: 3, spread: 1f, seed: 9);
        int[] validation = [299, 5, 17, 100];
        IReadOnlyList<int>? seenGold = null;

        var result = HeadTrainer.Train(x, y, 3, new HeadTrainerOptions
        {
            MaxEpochs = 1, ValidationRows = validation,
            ValidationMetric = (gold, predicted) => { seenGold = gold; return 0; },
        });

        Assert.Equal((296, 4), (result.TrainRows, result.ValidationRows));
        Assert.Equal(validation.Select(i => y[i]), seenGold!);
    }

    [Fact]
    public void Train_BalanceClasses_WeightsInverseToFrequency()
    {
        var (x, y) = Blobs(1000, dim: 4, classes: 2, spread: 1f, seed: 10);
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = i < 900 ? 0 : 1;
        }

        var result = HeadTrainer.Train(x, y, 2, new HeadTrainerOptions { MaxEpochs = 1, BalanceClasses = true, ValidationFraction = 0 });

        Assert.Equal(1000.0 / (2 * 900), result.ClassWeights[0], 5);
        Assert.Equal(1000.0 / (2 * 100), result.ClassWeights[1], 5);
        Assert.Equal(0, result.ValidationRows);
        Assert.True(double.IsNaN(result.BestValidationMetric));
    }

    [Fact]
    public void Train_CancelledToken_ThrowsOperationCanceled()
    {
        var (x, y) = Blobs(200, dim: 4, classes: 2, spread: 1f, seed: 11);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => HeadTrainer.Train(x, y, 2, cancellationToken: cts.Token));
    }

    [Fact]
    public void Train_InvalidInput_ThrowsArgumentException()
    {
        float[][] x = [[1f, 2f], [3f, 4f]];

        Assert.Throws<ArgumentException>(() => HeadTrainer.Train(x, [0, 2], 2));
        Assert.Throws<ArgumentException>(() => HeadTrainer.Train([[1f], [1f, 2f]], [0, 1], 2));
        Assert.Throws<ArgumentException>(() => HeadTrainer.Train([[1f, float.NaN], [1f, 2f]], [0, 1], 2));
        Assert.Throws<ArgumentException>(() => HeadTrainer.Train(x, [0], 2));
    }

    [Fact]
    public void Train_NerShapedFeatures_LearnsWithTheHiddenLayer()
    {
        // The NER workload's shape (1,536 features, 9 classes, hidden 256) at a size that stays quick in Debug builds,
        // where the JIT does not optimise; the 200,000-row case is timed outside the test suite.
        var (x, y) = Blobs(1200, dim: 1536, classes: 9, spread: 12f, seed: 12);

        var result = HeadTrainer.Train(x, y, 9, new HeadTrainerOptions { HiddenDim = 256, MaxEpochs = 2, BatchSize = 64 });

        Assert.True(result.BestValidationMetric > 0.9, $"macro F1 {result.BestValidationMetric}");
        Assert.Equal((1536, 256, 9), (result.Head.InputDim, result.Head.HiddenDim, result.Head.ClassCount));
    }

    [Fact]
    public void Train_ThenSaveAndLoad_GivesIdenticalLogits()
    {
        var (x, y) = Blobs(400, dim: 10, classes: 3, spread: 2f, seed: 13);
        var head = HeadTrainer.Train(x, y, 3, new HeadTrainerOptions { HiddenDim = 8, Activation = HeadActivation.Gelu, MaxEpochs = 2 }).Head;

        using var stream = new MemoryStream();
        head.Save(stream);
        stream.Position = 0;
        var loaded = DenseHead.Load(stream);

        var expected = new float[3];
        var actual = new float[3];
        foreach (var row in x.Take(50))
        {
            head.Forward(row, expected);
            loaded.Forward(row, actual);
            Assert.Equal(expected, actual);
        }
    }
}
