using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Text;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Postprocess;
using StreamBert.Processor.Preprocess;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Offsets through the real serving path without Kafka: records go through <see cref="Preprocessor"/>, the
/// sequences through <see cref="ModelSet.Run"/> in length-sorted batches (as the batcher forms them), and the
/// documents through <see cref="Postprocessor"/>; the JSON outputs are read back and every span checked against
/// the body (<see cref="ArticleChecks.Verify"/>).
/// </summary>
[Collection(ArticlesModelCollection.Name)]
public sealed class OffsetPropertyTests
{
    private const int RandomArticles = 700;
    private const int ClaimArticles = 400;

    private readonly ArticlesModelFixture _model;
    private readonly ITestOutputHelper _output;

    public OffsetPropertyTests(ArticlesModelFixture model, ITestOutputHelper output)
    {
        _model = model;
        _output = output;
    }

    [ArticlesFact]
    public void GeneratedAndRealArticles_EverySpanIsExactAndEntitiesStayInTheirSentence()
    {
        _output.WriteLine(_model.Log);
        var bodies = new List<string>();
        var random = new Random(20240517);
        for (var i = 0; i < RandomArticles; i++)
        {
            bodies.Add(ArticleCorpus.RandomBody(random));
        }

        // Real text: runs of 1–6 consecutive ClaimBuster sentences, spread over the whole file.
        var claims = ArticleCorpus.ClaimSentences();
        var stride = claims.Count / ClaimArticles;
        for (var i = 0; i < ClaimArticles; i++)
        {
            bodies.Add(string.Join(i % 5 == 0 ? "\n" : " ", claims.Skip(i * stride).Take(1 + (i % 6))));
        }

        bodies.AddRange(ArticleCorpus.Stress);
        bodies.AddRange(Edge);

        var clock = Stopwatch.StartNew();
        using var models = ModelSet.Load([_model.ArticlesDirectory]);
        var options = new ProcessorOptions();
        var topics = new TopicNames();
        var preprocessor = new Preprocessor(options, topics);
        var postprocessor = new Postprocessor(options, topics, new DeadLetters(topics, DeadLetters.DefaultMessageMaxBytes));
        var maxLength = models.RequiredHead(TaskNames.Claims).MaxSequenceLength;

        var documents = new List<Document>();
        var expectedSequences = 0;
        var sentences = 0;
        var longSentences = 0;
        for (var i = 0; i < bodies.Count; i++)
        {
            var id = $"prop-{i}";
            var record = new InputRecord(
                new TopicPartitionOffset(topics.Articles, new Partition(0), new Offset(i)),
                System.Text.Encoding.UTF8.GetBytes(id),
                ArticleCorpus.Json(new ArticleInput(id, bodies[i])),
                new Headers(),
                0,
                0);
            var result = preprocessor.Process(record, models);
            var accepted = Assert.IsType<Accepted>(result, exactMatch: false);
            var document = accepted.Document;
            documents.Add(document);

            var (windows, count, longOnes) = ExpectedWindows(models.Tokenizer, bodies[i], maxLength, options.WindowOverlap);
            expectedSequences += windows;
            sentences += count;
            longSentences += longOnes;
            Assert.Equal(windows, document.Sequences.Count);
            Assert.All(document.Sequences, s => Assert.Equal(TaskSet.Claims | TaskSet.Ner, s.Tasks));
        }

        // One encoder pass per sequence: every sequence goes through Run exactly once, and that one pass fills both heads.
        var all = documents.SelectMany(d => d.Sequences).OrderBy(s => s.Ids.Length).ToList();
        var batches = 0;
        for (var first = 0; first < all.Count;)
        {
            var count = 1;
            while (first + count < all.Count && count < 64 && (count + 1) * all[first + count].Ids.Length <= 8192)
            {
                count++;
            }

            models.Run(all.GetRange(first, count));
            batches++;
            first += count;
        }

        var completed = 0;
        foreach (var work in all)
        {
            Assert.NotNull(work.TagProbabilities);
            Assert.NotNull(work.ClaimsModel);
            Assert.NotNull(work.EntitiesModel);
            if (((SequenceOwner)work.State!).Document.CompleteOne())
            {
                completed++;
            }
        }

        Assert.Equal(documents.Count, completed);

        var spans = 0;
        var entityCount = 0;
        for (var i = 0; i < documents.Count; i++)
        {
            var outputs = postprocessor.Build(documents[i]);
            Assert.Equal(2, outputs.Records.Count);
            var claimsRecord = Assert.Single(outputs.Records, r => r.Topic == topics.ArticlesClaims);
            var entitiesRecord = Assert.Single(outputs.Records, r => r.Topic == topics.ArticlesEntities);
            var claimsOutput = JsonSerializer.Deserialize<ClaimsOutput>(claimsRecord.Value)!;
            var entitiesOutput = JsonSerializer.Deserialize<EntitiesOutput>(entitiesRecord.Value)!;
            spans += ArticleChecks.Verify(documents[i].Id, bodies[i], claimsOutput, entitiesOutput);
            entityCount += entitiesOutput.Entities.Count;
        }

        _output.WriteLine($"{bodies.Count} articles ({RandomArticles} generated, {ClaimArticles} ClaimBuster, {ArticleCorpus.Stress.Count} stress, {Edge.Length} edge cases), {sentences} sentences ({longSentences} longer than one window), {expectedSequences} sequences in {batches} batches; {spans} spans checked ({spans - entityCount} sentences, {entityCount} entities) in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(expectedSequences, all.Count);
        Assert.True(longSentences > 0, "no sentence was long enough to need windows");
        Assert.True(entityCount > 100, $"only {entityCount} entities: the NER head tags almost nothing, so the entity checks prove little");
    }

    /// <summary>Bodies at the edges: no word pieces at all, one character, one huge word, one sentence of many windows.</summary>
    private static readonly string[] Edge =
    [
        "\u0001\u0002\u0003", "🙂", "a", ".", "A\u0001B. \u0007 Paris.", new string('x', 130) + " in Berlin.", "👨‍👩‍👧‍👦👨‍👩‍👧‍👦👨‍👩‍👧‍👦",
        ArticleCorpus.LongSentence(700), "\u200BBarack Obama\u200B", "Ｆｕｌｌｗｉｄｔｈ Ｔｏｋｙｏ。ＡＢＣ ＮＥＷＳ．", "ﬁ ﬂ ﬃ Ⅻ ㎏ ¼",
    ];

    /// <summary>The plan the processor must follow: sentence by sentence, windows of at most the model's length.</summary>
    internal static (int Windows, int Sentences, int LongSentences) ExpectedWindows(WordPieceTokenizer tokenizer, string body, int maxLength, int overlap)
    {
        var ranges = new List<Range>();
        SentenceSplitter.Split(body, ranges);
        var tokens = new List<Token>();
        var plan = new List<(int Start, int Count)>();
        var windows = 0;
        var longOnes = 0;
        foreach (var range in ranges)
        {
            tokens.Clear();
            plan.Clear();
            tokenizer.Tokenize(body.AsSpan()[range], tokens);
            StreamBert.Engine.Inference.TokenWindows.Plan(tokens.Count, maxLength, overlap, plan);
            windows += plan.Count;
            longOnes += plan.Count > 1 ? 1 : 0;
        }

        return (windows, ranges.Count, longOnes);
    }
}
