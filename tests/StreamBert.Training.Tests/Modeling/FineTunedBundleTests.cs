using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Modeling;
using StreamBert.Training.Onnx;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StreamBert.Training.Tests.Modeling;

[Collection(BertCollection.Name)]
public sealed class FineTunedBundleTests(BertFixture fixture, ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streambert-finetuned-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Write_ThreeHeads_LoadsInModelSetWithTorchSharpProbabilities()
    {
        torch.manual_seed(11);
        using var spam = new SequenceClassificationHead(fixture.Encoder.Config.Hidden, 2, layers: [3, 4, 5, 6]);
        using var claims = new SequenceClassificationHead(fixture.Encoder.Config.Hidden, 2, pooling: "cls");
        using var ner = new TokenClassificationHead(fixture.Encoder.Config.Hidden, LabelSets.NerTags.Count, layers: [5, 6], wordShape: true);
        var request = Request([
            new ExportedHead(TaskNames.Spam, spam, LabelSets.SpamLabels),
            new ExportedHead(TaskNames.Claims, claims, LabelSets.ClaimLabels),
            new ExportedHead(TaskNames.Ner, ner, LabelSets.NerTags)]);

        var manifest = FineTunedBundle.Write(_directory, "v1", request);
        using var models = ModelSet.Load([_directory]);
        var work = fixture.Texts.Select(t => Work(fixture.Tokenizer, t)).ToList();
        // The texts share encoder rows (our writer's graph packs as the export does), and each still matches TorchSharp run alone.
        Assert.True(models.Encoders[0].SupportsPacking, "the written encoder graph was not rewritten for packing");
        Assert.True(models.Run(work) < work.Count * work.Max(w => w.Length), "the batch was not packed");
        var (spamExpected, claimsExpected, nerExpected) = TorchProbabilities(spam, claims, ner, work);

        double spamDiff = 0, claimsDiff = 0, nerDiff = 0;
        for (var row = 0; row < work.Count; row++)
        {
            spamDiff = Math.Max(spamDiff, Math.Abs(work[row].SpamScore - spamExpected[row]));
            claimsDiff = Math.Max(claimsDiff, Math.Abs(work[row].ClaimScore - claimsExpected[row]));
            var tags = LabelSets.NerTags.Count;
            for (var position = 1; position < work[row].Ids.Length - 1; position++)
            {
                for (var t = 0; t < tags; t++)
                {
                    nerDiff = Math.Max(nerDiff, Math.Abs(work[row].TagProbabilities![(position * tags) + t] - nerExpected[row][position, t]));
                }
            }
        }

        output.WriteLine($"ModelSet vs TorchSharp probabilities: spam {spamDiff:E2}, claims {claimsDiff:E2}, ner {nerDiff:E2}; parity {manifest.Training["onnxParityMaxAbsDiff"]}");
        Assert.Equal(FineTunedBundle.EncoderFile, manifest.Encoder.File);
        Assert.Equal(manifest.Files[FineTunedBundle.EncoderFile], manifest.Encoder.Sha256);
        Assert.Equal([3, 4, 5, 6], manifest.Heads[TaskNames.Spam].Layers);
        Assert.True(manifest.Heads[TaskNames.Ner].WordShape);
        Assert.InRange(spamDiff, 0, 1e-4);
        Assert.InRange(claimsDiff, 0, 1e-4);
        Assert.InRange(nerDiff, 0, 1e-4);
    }

    [Fact]
    public void Write_ToleranceBelowTheMeasuredDifference_RefusesAndWritesNothing()
    {
        torch.manual_seed(12);
        using var spam = new SequenceClassificationHead(fixture.Encoder.Config.Hidden, 2);
        var request = Request([new ExportedHead(TaskNames.Spam, spam, LabelSets.SpamLabels)]) with { Tolerance = 1e-12 };

        var error = Assert.Throws<OnnxParityException>(() => FineTunedBundle.Write(_directory, "v1", request));

        Assert.True(error.Report.Max > 1e-12);
        Assert.False(Directory.Exists(_directory));
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private FineTunedBundleRequest Request(IReadOnlyList<ExportedHead> heads) => new()
    {
        Name = "finetuned-test",
        Encoder = fixture.Encoder,
        Heads = heads,
        ParityTexts = fixture.Texts,
        MaxSequenceLength = BertFixture.MaxLength,
    };

    private static SequenceWork Work(WordPieceTokenizer tokenizer, string text)
    {
        var tokens = new List<Token>();
        tokenizer.Tokenize(text, tokens);
        var count = Math.Min(tokens.Count, BertFixture.MaxLength - 2);
        int[] ids = [tokenizer.ClsId, .. tokens.Take(count).Select(t => t.Id), tokenizer.SepId];
        return new SequenceWork
        {
            Ids = ids,
            Tasks = TaskSet.Spam | TaskSet.Claims | TaskSet.Ner,
            WordShapes = WordShape.ForSequence(text, tokens, 0, count),
        };
    }

    private (float[] Spam, float[] Claims, float[][,] Ner) TorchProbabilities(
        SequenceClassificationHead spam, SequenceClassificationHead claims, TokenClassificationHead ner, List<SequenceWork> work)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        spam.eval();
        claims.eval();
        ner.eval();
        var rows = work.Count;
        var length = work.Max(w => w.Ids.Length);
        var ids = new long[rows * length];
        var mask = new long[rows * length];
        var shapes = new float[rows * length * WordShape.Size];
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < work[r].Ids.Length; i++)
            {
                ids[(r * length) + i] = work[r].Ids[i];
                mask[(r * length) + i] = 1;
            }

            work[r].WordShapes!.CopyTo(shapes, r * length * WordShape.Size);
        }

        var idTensor = tensor(ids, [rows, length]);
        var maskTensor = tensor(mask, [rows, length]);
        var states = fixture.Encoder.forward(idTensor, maskTensor, zeros_like(idTensor));
        var spamP = spam.forward(states, maskTensor).softmax(-1)[TensorIndex.Colon, 1].contiguous().data<float>().ToArray();
        var claimsP = claims.forward(states, maskTensor).softmax(-1)[TensorIndex.Colon, 1].contiguous().data<float>().ToArray();
        var nerP = ner.forward(states, tensor(shapes, [rows, length, WordShape.Size])).softmax(-1).contiguous().data<float>().ToArray();
        var tags = LabelSets.NerTags.Count;
        var perRow = new float[rows][,];
        for (var r = 0; r < rows; r++)
        {
            perRow[r] = new float[length, tags];
            for (var p = 0; p < length; p++)
            {
                for (var t = 0; t < tags; t++)
                {
                    perRow[r][p, t] = nerP[(((r * length) + p) * tags) + t];
                }
            }
        }

        return (spamP, claimsP, perRow);
    }
}
