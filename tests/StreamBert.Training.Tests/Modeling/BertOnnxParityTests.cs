using StreamBert.Contracts;
using StreamBert.Training.Modeling;
using StreamBert.Training.Onnx;
using TorchSharp;
using Xunit.Abstractions;

namespace StreamBert.Training.Tests.Modeling;

[Collection(BertCollection.Name)]
public sealed class BertOnnxParityTests(BertFixture fixture, ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void FromOnnx_PretrainedMiniLm_MatchesOnnxRuntimeOnTheOriginalGraph()
    {
        var report = OnnxParity.Check(fixture.Original, fixture.Encoder, [], fixture.Tokenizer, fixture.Texts, BertFixture.MaxLength);

        output.WriteLine($"TorchSharp vs pretrained ORT: {report}");
        Assert.True(report.Sequences >= 20);
        Assert.InRange(report.MaxAbsDiff[BertOnnxWriter.LastHiddenState], 0, Tolerance);
    }

    [Fact]
    public void Build_SpamHeadWithMeanPooling_MatchesTorchSharp()
    {
        torch.manual_seed(1);
        using var head = new SequenceClassificationHead(fixture.Encoder.Config.Hidden, 2, pooling: "mean");

        var report = CheckWritten([new ExportedHead(TaskNames.Spam, head, LabelSets.SpamLabels)]);

        Assert.InRange(report.Max, 0, Tolerance);
    }

    [Fact]
    public void Build_ClaimsHeadWithClsPoolingOverTwoLayers_MatchesTorchSharp()
    {
        torch.manual_seed(2);
        using var head = new SequenceClassificationHead(fixture.Encoder.Config.Hidden, 2, layers: [5, 6], pooling: "cls");

        var report = CheckWritten([new ExportedHead(TaskNames.Claims, head, LabelSets.ClaimLabels)]);

        Assert.InRange(report.Max, 0, Tolerance);
    }

    [Fact]
    public void Build_NerHeadWithWordShapesOverFourLayers_MatchesTorchSharp()
    {
        torch.manual_seed(3);
        using var head = new TokenClassificationHead(fixture.Encoder.Config.Hidden, LabelSets.NerTags.Count, layers: [3, 4, 5, 6], wordShape: true);

        var report = CheckWritten([new ExportedHead(TaskNames.Ner, head, LabelSets.NerTags)]);

        Assert.InRange(report.Max, 0, Tolerance);
    }

    [Fact]
    public void Build_PerturbedEncoder_WritesThePerturbedWeights()
    {
        var random = new Random(4);
        var perturbed = fixture.Encoder.ExportWeights()
            .Select(w => w with { Data = w.Data.Select(v => v + (0.02f * (float)(random.NextDouble() - 0.5))).ToArray() })
            .ToList();
        using var encoder = new BertEncoder(fixture.Encoder.Config);
        encoder.LoadWeights(perturbed);
        encoder.eval();
        torch.manual_seed(5);
        using var head = new SequenceClassificationHead(encoder.Config.Hidden, 2);
        ExportedHead[] heads = [new ExportedHead(TaskNames.Spam, head, LabelSets.SpamLabels)];

        var model = BertOnnxWriter.Build(encoder, heads);
        var report = OnnxParity.Check(model, encoder, heads, fixture.Tokenizer, fixture.Texts, BertFixture.MaxLength);
        var againstPretrained = OnnxParity.Check(model, fixture.Encoder, [], fixture.Tokenizer, fixture.Texts, BertFixture.MaxLength);

        output.WriteLine($"perturbed: {report}; written perturbed graph vs pretrained TorchSharp: {againstPretrained}");
        Assert.InRange(report.Max, 0, Tolerance);
        Assert.True(againstPretrained.Max > 1e-2, "the written graph must carry the perturbed weights, not the pretrained ones");
        var readBack = OnnxWeights.Read(model).Where(kv => !kv.Key.StartsWith("heads.", StringComparison.Ordinal)).ToDictionary();
        Assert.Equal(perturbed.Select(w => w.Name).Order(), readBack.Keys.Order());
        Assert.All(perturbed, w =>
        {
            Assert.Equal(w.Shape, readBack[w.Name].Shape);
            Assert.Equal(w.Data, readBack[w.Name].Data);
        });
    }

    [Fact]
    public void LoadWeights_MissingAndExtraTensors_ListsThemAll()
    {
        var weights = fixture.Encoder.ExportWeights().Where(w => w.Name != "encoder.layer.2.output.dense.bias").ToList();
        weights.Add(new NamedTensor("pooler.dense.bias", [384], new float[384]));
        using var encoder = new BertEncoder(fixture.Encoder.Config);

        var error = Assert.Throws<InvalidDataException>(() => encoder.LoadWeights(weights));

        Assert.Contains("missing [encoder.layer.2.output.dense.bias]", error.Message, StringComparison.Ordinal);
        Assert.Contains("extra [pooler.dense.bias]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromOnnx_PretrainedMiniLm_ReadsTheConfigFromTheGraph()
    {
        Assert.Equal(BertConfig.MiniLmL6, fixture.Encoder.Config);
        Assert.Equal(101, fixture.Encoder.named_parameters().Count());
    }

    private ParityReport CheckWritten(IReadOnlyList<ExportedHead> heads)
    {
        var model = BertOnnxWriter.Build(fixture.Encoder, heads);
        var report = OnnxParity.Check(model, fixture.Encoder, heads, fixture.Tokenizer, fixture.Texts, BertFixture.MaxLength);
        output.WriteLine($"{string.Join(",", heads.Select(h => h.Task))}: {report}");
        return report;
    }
}
