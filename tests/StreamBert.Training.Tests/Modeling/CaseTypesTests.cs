using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Modeling;
using StreamBert.Training.Onnx;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StreamBert.Training.Tests.Modeling;

/// <summary>
/// An encoder with case token types, written as a bundle, is served with each piece's case in <c>token_type_ids</c>
/// exactly as TorchSharp computed it; and an article sentence whose claims head sits on the pretrained encoder and
/// whose NER head sits on the case-typed one gets each task from its own encoder.
/// </summary>
[Collection(BertCollection.Name)]
public sealed class CaseTypesTests(BertFixture fixture, ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "streambert-casetypes-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void FromOnnx_CaseTypes_StartsAsThePretrainedEncoder()
    {
        using var cased = BertEncoder.FromOnnx(caseTypes: true);
        var work = fixture.Texts.Take(6).Select(t => Work(fixture.Tokenizer, t)).ToList();

        var pretrained = Hidden(fixture.Encoder, work, caseTypes: false);
        var withCases = Hidden(cased, work, caseTypes: true);

        Assert.True(cased.Config.CaseTypes);
        Assert.Equal(WordShape.CaseTypeCount, cased.Config.TypeVocabSize);
        Assert.InRange(MaxDiff(pretrained, withCases), 0, 1e-5);
    }

    [Fact]
    public void Bundle_CaseTypedNerBesideAnArticlesBundle_NerFromItsOwnEncoderWithItsOwnTypesClaimsFromTheOther()
    {
        using var cased = BertEncoder.FromOnnx(caseTypes: true);
        torch.manual_seed(5);
        using (no_grad())
        {
            // What fine-tuning would teach: capitals mean something, so the case rows drift from the segment row.
            var types = cased.named_parameters().Single(p => p.name == "embeddings.token_type_embeddings.weight").parameter;
            types[1].add_(randn_like(types[1]) * 0.5);
            types[2].add_(randn_like(types[2]) * 0.5);
        }

        using var ner = new TokenClassificationHead(cased.Config.Hidden, LabelSets.NerTags.Count, wordShape: true);
        using var claims = new SequenceClassificationHead(fixture.Encoder.Config.Hidden, 2);
        using var articlesNer = new TokenClassificationHead(fixture.Encoder.Config.Hidden, LabelSets.NerTags.Count, wordShape: true);
        var nerDir = Path.Combine(_root, "ner");
        var articlesDir = Path.Combine(_root, "articles");
        var nerManifest = FineTunedBundle.Write(nerDir, "v1", Request("ner-case", cased, new ExportedHead(TaskNames.Ner, ner, LabelSets.NerTags)));
        FineTunedBundle.Write(articlesDir, "v1", Request(
            "articles", fixture.Encoder, new ExportedHead(TaskNames.Claims, claims, LabelSets.ClaimLabels), new ExportedHead(TaskNames.Ner, articlesNer, LabelSets.NerTags)));

        // Two bundles with an NER head need a choice; the processor's NerBundle makes it.
        var ambiguous = Assert.Throws<InvalidDataException>(() => ModelSet.Load([articlesDir, nerDir]));
        Assert.Contains("Two bundles serve task ner", ambiguous.Message, StringComparison.Ordinal);
        using var models = ModelSet.Load([articlesDir, nerDir], taskBundles: new Dictionary<string, string> { [TaskNames.Ner] = "ner-case" });
        var work = fixture.Texts.Select(t => Work(fixture.Tokenizer, t)).ToList();
        models.Run(work);

        var nerExpected = Probabilities(cased, ner, work, caseTypes: true);
        var nerWithoutTypes = Probabilities(cased, ner, work, caseTypes: false);
        var claimsExpected = ClaimProbabilities(claims, work);
        double nerDiff = 0, typesEffect = 0, claimsDiff = 0;
        var tags = LabelSets.NerTags.Count;
        for (var row = 0; row < work.Count; row++)
        {
            claimsDiff = Math.Max(claimsDiff, Math.Abs(work[row].ClaimScore - claimsExpected[row]));
            for (var position = 1; position < work[row].Ids.Length - 1; position++)
            {
                for (var t = 0; t < tags; t++)
                {
                    var served = work[row].TagProbabilities![(position * tags) + t];
                    nerDiff = Math.Max(nerDiff, Math.Abs(served - nerExpected[row][(position * tags) + t]));
                    typesEffect = Math.Max(typesEffect, Math.Abs(served - nerWithoutTypes[row][(position * tags) + t]));
                }
            }
        }

        output.WriteLine($"served vs TorchSharp: ner {nerDiff:E2}, claims {claimsDiff:E2}; case types change NER probabilities by up to {typesEffect:F3}; parity {nerManifest.Training["onnxParityMaxAbsDiff"]}");
        Assert.Equal(EncoderRef.CaseTokenTypes, nerManifest.Encoder.TokenTypes);
        Assert.Equal(2, models.Encoders.Count);
        Assert.Equal("ner-case", models.RequiredHead(TaskNames.Ner).Model.Name);
        Assert.Equal("articles", models.RequiredHead(TaskNames.Claims).Model.Name);
        Assert.All(work, w => Assert.Equal(("articles", "ner-case"), (w.ClaimsModel!.Name, w.EntitiesModel!.Name)));
        Assert.InRange(nerDiff, 0, 1e-4);
        Assert.InRange(claimsDiff, 0, 1e-4);
        Assert.True(typesEffect > 1e-2, $"Case types changed NER probabilities by only {typesEffect}.");
    }

    [Fact]
    public void FineTune_CaseTypesForSpam_IsRefused()
    {
        var request = Training.Jobs.TrainRequest.ForTask(TaskNames.Spam) with
        {
            DataFiles = ["unused.tsv"],
            Registry = _root,
            Mode = Training.Jobs.TrainModes.Full,
            CaseTypes = true,
        };

        var error = Assert.Throws<ArgumentException>(() => Training.FineTuning.FineTuneJob.Run(request, TextWriter.Null, CancellationToken.None));

        Assert.Contains("ner only", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private FineTunedBundleRequest Request(string name, BertEncoder encoder, params ExportedHead[] heads) => new()
    {
        Name = name,
        Encoder = encoder,
        Heads = heads,
        ParityTexts = fixture.Texts,
        MaxSequenceLength = BertFixture.MaxLength,
    };

    private static SequenceWork Work(WordPieceTokenizer tokenizer, string text)
    {
        var tokens = new List<Token>();
        tokenizer.Tokenize(text, tokens);
        var count = Math.Min(tokens.Count, BertFixture.MaxLength - 2);
        return new SequenceWork
        {
            Ids = [tokenizer.ClsId, .. tokens.Take(count).Select(t => t.Id), tokenizer.SepId],
            Tasks = TaskSet.Claims | TaskSet.Ner,
            WordShapes = WordShape.ForSequence(text, tokens, 0, count),
        };
    }

    /// <summary>One row at a time (no padding), so every value compares with the served row directly.</summary>
    private static Tensor[] Encode(BertEncoder encoder, SequenceWork work, bool caseTypes)
    {
        var length = work.Ids.Length;
        var types = new long[length];
        if (caseTypes)
        {
            WordShape.WriteCaseTypes(work.WordShapes, types);
        }

        var ids = tensor(work.Ids.Select(i => (long)i).ToArray(), [1, length]);
        return encoder.forward(ids, ones_like(ids), tensor(types, [1, length]));
    }

    private static List<float[]> Hidden(BertEncoder encoder, List<SequenceWork> work, bool caseTypes)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return work.Select(w => Encode(encoder, w, caseTypes)[^1].contiguous().data<float>().ToArray()).ToList();
    }

    private static List<float[]> Probabilities(BertEncoder encoder, TokenClassificationHead head, List<SequenceWork> work, bool caseTypes)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        head.eval();
        return work.Select(w => head.forward(Encode(encoder, w, caseTypes), tensor(w.WordShapes!, [1, w.Ids.Length, WordShape.Size]))
            .softmax(-1).contiguous().data<float>().ToArray()).ToList();
    }

    private float[] ClaimProbabilities(SequenceClassificationHead head, List<SequenceWork> work)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        head.eval();
        return work.Select(w =>
        {
            var states = Encode(fixture.Encoder, w, caseTypes: false);
            return head.forward(states, ones_like(states[0][TensorIndex.Colon, TensorIndex.Colon, 0]).to_type(ScalarType.Int64))
                .softmax(-1)[0, 1].item<float>();
        }).ToArray();
    }

    private static double MaxDiff(List<float[]> a, List<float[]> b) =>
        a.Zip(b).Max(p => p.First.Zip(p.Second).Max(v => Math.Abs(v.First - v.Second)));
}
