using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StreamBert.Contracts;
using StreamBert.Engine.Tokenization;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Articles end to end on the embedded broker, with a processor that serves the spam and the articles bundle:
/// every valid article gets exactly one claims and one entities record whose spans index its body exactly,
/// every invalid one lands in the articles dead-letter topic, and each sentence window is encoded once for both heads.
/// </summary>
[Collection(ArticlesModelCollection.Name)]
public sealed class ArticlesPipelineTests : IClassFixture<EmbeddedKafkaFixture>
{
    private const int Total = 1000;
    private const int Malformed = 20;
    private const int SyntheticCount = 40;

    private readonly EmbeddedKafkaFixture _kafka;
    private readonly ArticlesModelFixture _model;
    private readonly ITestOutputHelper _output;

    public ArticlesPipelineTests(EmbeddedKafkaFixture kafka, ArticlesModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _model = model;
        _output = output;
    }

    [ArticlesFact]
    public async Task Processor_1000Articles20Malformed_OneClaimsAndOneEntitiesRecordPerValidArticle_InvalidOnesDeadLettered_OneEncoderPassPerWindow()
    {
        _output.WriteLine(_model.Log);
        var clock = Stopwatch.StartNew();
        var topics = TestTopics.Create(_kafka);
        var valid = ArticleCorpus.Debates(Total - Malformed - SyntheticCount, "e2e").Concat(ArticleCorpus.Synthetic(SyntheticCount, "e2e")).ToList();
        Assert.Equal(Total - Malformed, valid.Count);
        Assert.Equal(valid.Count, valid.Select(a => a.Id).Distinct().Count());

        // Malformed inputs spread evenly through the stream, one of each kind.
        var inputs = new List<TestInput>(Total);
        var bad = new List<TestInput>();
        var next = 0;
        for (var i = 0; i < Total; i++)
        {
            if (i % (Total / Malformed) == Total / Malformed / 2)
            {
                var key = $"e2e-bad-{bad.Count}";
                var input = new TestInput(key, ArticleCorpus.Malformed(bad.Count, key), null, null);
                bad.Add(input);
                inputs.Add(input);
            }
            else
            {
                var article = valid[next++];
                inputs.Add(new TestInput(article.Id, ArticleCorpus.Json(article), article.Id, null));
            }
        }

        Assert.Equal(Malformed, bad.Count);
        Assert.True(bad.Any(b => b.Value.Length > new ProcessorOptions().MaxInputBytes), "no input is over MaxInputBytes");
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Articles, inputs);

        List<Confluent.Kafka.ConsumeResult<string, byte[]>> claimsRecords;
        List<Confluent.Kafka.ConsumeResult<string, byte[]>> entityRecords;
        List<Confluent.Kafka.ConsumeResult<string, byte[]>> dead;
        ProcessorMetrics metrics;
        using (var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, "e2e-articles-" + Guid.NewGuid().ToString("N")))
        {
            var served = host.Services.GetRequiredService<ProcessorService>().Models?.Bundles.Keys.Order(StringComparer.Ordinal).ToList();
            Assert.Equal(["articles", "spam"], served);
            metrics = host.Services.GetRequiredService<ProcessorMetrics>();
            claimsRecords = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesClaims, r => r.Select(o => o.Message.Key).Distinct().Count() >= valid.Count, TimeSpan.FromMinutes(10));
            entityRecords = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesEntities, r => r.Select(o => o.Message.Key).Distinct().Count() >= valid.Count, TimeSpan.FromMinutes(2));
            dead = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesDlq, r => r.Count >= Malformed, TimeSpan.FromMinutes(1));
            await host.StopAsync();
        }

        var processing = clock.Elapsed;

        // Exactly one record per valid article on each output topic, keyed by its id.
        var ids = valid.Select(a => a.Id).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(ids, claimsRecords.Select(r => r.Message.Key).Order(StringComparer.Ordinal).ToList());
        Assert.Equal(ids, entityRecords.Select(r => r.Message.Key).Order(StringComparer.Ordinal).ToList());
        var claims = claimsRecords.ToDictionary(r => r.Message.Key, r => JsonSerializer.Deserialize<ClaimsOutput>(r.Message.Value)!);
        var entities = entityRecords.ToDictionary(r => r.Message.Key, r => JsonSerializer.Deserialize<EntitiesOutput>(r.Message.Value)!);
        var model = new ModelRef("articles", _model.Articles!.Version);
        Assert.All(claims.Values, c => Assert.Equal(model, c.Model));
        Assert.All(entities.Values, e => Assert.Equal(model, e.Model));

        // Every invalid input in the dead-letter topic, byte for byte, with its reason.
        Assert.Equal(bad.Select(b => b.Key).Order(StringComparer.Ordinal), dead.Select(d => d.Message.Key).Order(StringComparer.Ordinal));
        var badByKey = bad.ToDictionary(b => b.Key);
        Assert.All(dead, d =>
        {
            Assert.Equal(badByKey[d.Message.Key].Value, d.Message.Value ?? []);
            Assert.False(string.IsNullOrWhiteSpace(PipelineHarness.Header(d, Topics.ErrorHeader)), $"{d.Message.Key} has no {Topics.ErrorHeader} header");
        });
        foreach (var d in dead.OrderBy(d => int.Parse(d.Message.Key["e2e-bad-".Length..], System.Globalization.CultureInfo.InvariantCulture)))
        {
            _output.WriteLine($"  {d.Message.Key}: {PipelineHarness.Header(d, Topics.ErrorHeader)}");
        }

        // Offsets: every span indexes the body exactly; entities sit inside one sentence.
        var spans = 0;
        var entityCount = 0;
        foreach (var article in valid)
        {
            spans += ArticleChecks.Verify(article.Id, article.Body, claims[article.Id], entities[article.Id]);
            entityCount += entities[article.Id].Entities.Count;
        }

        // One pass: the engine encoded exactly one sequence per sentence window, not one per task.
        var tokenizer = WordPieceTokenizer.FromFile(Path.Combine(_model.ArticlesDirectory, "vocab.txt"));
        var (windows, sentences, longSentences) = (0, 0, 0);
        foreach (var article in valid)
        {
            var plan = OffsetPropertyTests.ExpectedWindows(tokenizer, article.Body, _model.Articles.MaxSequenceLength, new ProcessorOptions().WindowOverlap);
            windows += plan.Windows;
            sentences += plan.Sentences;
            longSentences += plan.LongSentences;
        }

        _output.WriteLine($"{valid.Count} articles, {sentences} sentences ({longSentences} longer than one window), {windows} windows; engine: {metrics.Sequences} sequences in {metrics.Batches} batches; {spans} spans checked ({spans - entityCount} sentences, {entityCount} entities); {dead.Count} dead letters; {processing.TotalSeconds:F1} s");
        Assert.Equal(sentences, claims.Values.Sum(c => c.Sentences.Count));
        Assert.True(longSentences > 0, "no sentence needed windows");
        Assert.Equal(windows, metrics.Sequences);
        Assert.True(metrics.Sequences < 2 * sentences, $"{metrics.Sequences} sequences for {sentences} sentences");
        Assert.Equal(Malformed, metrics.DeadLettered);
        Assert.True(entityCount > valid.Count, $"only {entityCount} entities in {valid.Count} articles");
    }
}
