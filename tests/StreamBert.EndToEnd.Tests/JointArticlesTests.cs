using System.Globalization;
using System.Text.Json;
using StreamBert.Cli.Bench;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;
using StreamBert.Trainer;
using StreamBert.Training.Data;
using StreamBert.Training.FineTuning;
using StreamBert.Training.Jobs;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// A jointly fine-tuned articles bundle (<c>train --task articles --mode full</c>), trained once on a few shipped rows:
/// 160 ClaimBuster sentences and 60 Wikigold sentences, one epoch at 32 pieces — quality is not under test, only what
/// the bundle is and how it is served and retrained.
/// </summary>
public sealed class JointArticlesFixture : IDisposable
{
    public JointArticlesFixture()
    {
        Directory.CreateDirectory(Root);
        ClaimsFile = Path.Combine(Root, "claims-tiny.jsonl");
        var claims = ClaimDataReader.Read(ArticlesData.ClaimBusterCrowdsourced).Take(220).ToList();
        File.WriteAllLines(ClaimsFile, claims.Take(160).Select(r => JsonSerializer.Serialize(new { text = r.Text, label = r.Label })));
        ClaimsEvalFile = Path.Combine(Root, "claims-eval.jsonl");
        File.WriteAllLines(ClaimsEvalFile, claims.Skip(160).Select(r => JsonSerializer.Serialize(new { text = r.Text, label = r.Label })));
        var nerFile = Path.Combine(Root, "ner-tiny.txt");
        File.WriteAllLines(nerFile, ConllReader.Read(Path.Combine(RepoData.Root, "data", "ner", "wikigold.conll.txt")).Take(60)
            .SelectMany(s => s.Tokens.Select((t, i) => $"{t} {s.Tags[i]}").Append("")));
        using var log = new StringWriter(CultureInfo.InvariantCulture);
        Outcome = ArticlesFineTuneJob.Run(TrainRequest.ForTask(TaskNames.Claims) with
        {
            Task = TrainRequest.Articles,
            Mode = TrainModes.Full,
            DataFiles = [ClaimsFile],
            EvalFile = ClaimsEvalFile,
            NerDataFiles = [nerFile],
            Registry = Registry,
            Layers = null,
            FineTuneEpochs = 1,
            BatchSize = 16,
            MaxSequenceLength = 32,
            FineTuneLearningRate = 1e-4f,
            CaseTypes = true,
        }, log, CancellationToken.None);
        Log = log.ToString();
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "streambert-joint-" + Guid.NewGuid().ToString("N"));

    public string Registry => Path.Combine(Root, "registry");

    public string ClaimsFile { get; }

    public string ClaimsEvalFile { get; }

    public ArticlesFineTuneOutcome Outcome { get; }

    public string Log { get; }

    public string BundleDirectory => new ModelRegistry(Registry).BundleDirectory(Outcome.Manifest.Name, Outcome.Manifest.Version);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class JointArticlesCollection : ICollectionFixture<JointArticlesFixture>
{
    public const string Name = "joint articles bundle";
}

[Collection(JointArticlesCollection.Name)]
public sealed class JointArticlesTests(JointArticlesFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public void Train_ClaimsAndNer_OneCaseTypedEncoderTwoHeadsProvenAndClaimsCalibrated()
    {
        output.WriteLine(fixture.Log);
        var manifest = fixture.Outcome.Manifest;

        Assert.Equal(ArticlesFineTuneJob.DefaultBundle, manifest.Name);
        Assert.Equal(new[] { TaskNames.Claims, TaskNames.Ner }, manifest.Heads.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("encoder.onnx", manifest.Encoder.File);
        Assert.Equal(EncoderRef.CaseTokenTypes, manifest.Encoder.TokenTypes);
        Assert.InRange(double.Parse(manifest.Training["onnxParityMaxAbsDiff"], CultureInfo.InvariantCulture), 0, 1e-4);
        Assert.Equal(TrainRequest.Articles, manifest.Training["task"]);
        // Both tasks trained in the same steps: 160 claims rows minus calibration and validation, plus 54 sentences, in batches of 16.
        var rows = int.Parse(manifest.Training["claimsTrainRows"], CultureInfo.InvariantCulture) + int.Parse(manifest.Training["nerTrainSentences"], CultureInfo.InvariantCulture);
        Assert.Equal((rows + 15) / 16, fixture.Outcome.Training.Steps);
        var claims = manifest.Heads[TaskNames.Claims];
        Assert.NotNull(claims.Calibration);
        Assert.NotNull(claims.OperatingPoint);
        Assert.Equal(60, fixture.Outcome.Claims.N);
        Assert.Equal(fixture.Outcome.Claims.F1, manifest.Metrics[TaskNames.Claims]["f1"], 9);
        Assert.Equal(fixture.Outcome.Ner.F1, manifest.Metrics[TaskNames.Ner]["f1"], 9);
        Assert.Contains("claims F1", fixture.Log, StringComparison.Ordinal);
        Assert.Contains("entity F1", fixture.Log, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_JointBundle_ClaimsAndNerShareOneEncoderAndClaimsTextsGetCaseTypes()
    {
        using var models = ModelSet.Load([fixture.BundleDirectory]);
        Assert.Equal(models.RequiredHead(TaskNames.Claims).EncoderIndex, models.RequiredHead(TaskNames.Ner).EncoderIndex);
        Assert.True(models.ReadsCaseTypes(models.RequiredHead(TaskNames.Claims).EncoderIndex));

        // Offline scoring (eval, calibration, the trainer's gate) fills case types for claims texts as the processor
        // does for article sentences: a capital changes the score, which it cannot on an all-0 type input.
        var scorer = new OfflineScorer(models);
        var margins = scorer.MarginTexts(["the senator said taxes rose by 40 percent in 2010.", "The Senator said taxes rose by 40 percent in 2010."], TaskNames.Claims);
        output.WriteLine($"margins lower-case {margins[0]:F6}, capitalised {margins[1]:F6}");
        Assert.All(margins, m => Assert.True(float.IsFinite(m)));
        Assert.NotEqual(margins[0], margins[1]);
    }

    [Fact]
    public void BenchArticles_JointBundle_BothHeadsFromOneEncoderPassPerWindowAtFp32AndInt8()
    {
        List<ArticleInput> articles =
        [
            new("joint-1", "The senator said taxes rose by 40 percent in 2010. We will win. Paris is in France."),
            new("joint-2", "John Smith met Angela Merkel in Berlin. Unemployment fell to 5 percent last year."),
        ];
        using var log = new StringWriter(CultureInfo.InvariantCulture);

        var comparison = ArticlesBench.ComparePrecision(fixture.BundleDirectory, articles, runs: 1, log, CancellationToken.None);

        output.WriteLine(log.ToString());
        foreach (var side in new[] { comparison.Fp32, comparison.Int8 })
        {
            Assert.Equal(5, side.Sentences);
            Assert.Equal(side.Sentences, side.Windows);
            Assert.True(side.OnePass, $"{side.Precision}: {string.Join(", ", side.SequencesPerRun)} sequences for {side.Windows} windows");
        }
    }

    [Fact]
    public void Trainer_ClaimsLabelsOnJointVersion_RetrainsTheClaimsHeadOnItsEncoderAndKeepsEncoderAndNerHead()
    {
        var parent = fixture.Outcome.Manifest;
        var registry = Path.Combine(fixture.Root, "trainer-registry");
        CopyDirectory(fixture.BundleDirectory, new ModelRegistry(registry).BundleDirectory(parent.Name, parent.Version));
        new ModelRegistry(registry).SetCurrent(parent.Name, parent.Version);
        var labels = ClaimDataReader.Read(ArticlesData.ClaimBusterCrowdsourced).Skip(300).Take(120).Select(r => r.ToLabeledText()).ToList();
        var options = new TrainerOptions
        {
            Registry = registry,
            EvalFiles = { [TaskNames.Claims] = fixture.ClaimsEvalFile },
            // The tiny model is not under test: the gate's tolerance lets the candidate through so its files can be checked.
            Tolerance = 1.0,
        };
        using var log = new StringWriter(CultureInfo.InvariantCulture);

        var outcome = new LabelTrainingJob(options, log).Run(TaskNames.Claims, labels, [], new Dictionary<string, long> { ["labels.claims/0"] = 120 }, CancellationToken.None);

        output.WriteLine(log.ToString());
        var published = Assert.IsType<BundleManifest>(outcome.Published);
        Assert.Contains("head retrained", log.ToString(), StringComparison.Ordinal);
        Assert.Equal(parent.Files["encoder.onnx"], published.Files["encoder.onnx"]);
        Assert.Equal(parent.Files[parent.Heads[TaskNames.Ner].File], published.Files[published.Heads[TaskNames.Ner].File]);
        Assert.NotEqual(parent.Files[parent.Heads[TaskNames.Claims].File], published.Files[published.Heads[TaskNames.Claims].File]);
        Assert.Equal(EncoderRef.CaseTokenTypes, published.Encoder.TokenTypes);
        using var models = ModelSet.Load([new ModelRegistry(registry).BundleDirectory(published.Name, published.Version)]);
        Assert.Equal(models.RequiredHead(TaskNames.Claims).EncoderIndex, models.RequiredHead(TaskNames.Ner).EncoderIndex);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
