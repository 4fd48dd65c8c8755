using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Postprocess;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Hostile records produced ahead of ordinary ones on the embedded broker, through a processor serving the spam and
/// articles bundles: each hostile record is labelled or dead-lettered with its reason, every ordinary one behind it is
/// labelled exactly once, and the processor keeps running.
/// </summary>
[Collection(ArticlesModelCollection.Name)]
public sealed class PoisonPillTests : IClassFixture<EmbeddedKafkaFixture>
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly ArticlesModelFixture _model;
    private readonly ITestOutputHelper _output;

    public PoisonPillTests(EmbeddedKafkaFixture kafka, ArticlesModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _model = model;
        _output = output;
    }

    /// <summary>
    /// The operator's report, one input at a time, with the processor's default settings (message.max.bytes 1,000,000):
    /// the input, then 60 messages and 10 articles behind it.
    /// </summary>
    [ArticlesTheory]
    [InlineData("A-dot-255kb", "MaxSentencesPerArticle")]
    [InlineData("a-dot-255kb", "MaxWindowsPerArticle")]
    [InlineData("200kb-word-article", null)]
    [InlineData("100k-combining-marks", null)]
    [InlineData("emoji-zwj-families", null)]
    public async Task Processor_OperatorInputAheadOfOrdinaryInputs_InputLabelledOrDeadLetteredAndEverythingBehindLabelled(string kind, string? reason)
    {
        var clock = Stopwatch.StartNew();
        var topics = TestTopics.Create(_kafka);
        var hostile = HostileCorpus.All("op").Single(h => h.Kind == kind);
        Assert.Equal(reason, hostile.Reason);
        var messages = InputCorpus.Mixed(60, 0, "op-m-" + kind);
        var articles = ArticleCorpus.Debates(10, "op-a-" + kind);
        Produce(topics, [hostile]);
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, messages);
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Articles, articles.Select(a => new TestInput(a.Id, ArticleCorpus.Json(a), a.Id, null)));

        using var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, "op-" + Guid.NewGuid().ToString("N"));
        var expectedClaims = articles.Count + (reason is null ? 1 : 0);
        var spam = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= messages.Count, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1));
        var claims = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesClaims, r => r.Count >= expectedClaims, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1));
        var dead = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesDlq, r => r.Count >= (reason is null ? 0 : 1), TimeSpan.FromSeconds(reason is null ? 3 : 30), TimeSpan.FromSeconds(1));
        _output.WriteLine($"{kind}: {spam.Count} spam labels, {claims.Count} claims records, {dead.Count} dead letters in {clock.Elapsed.TotalSeconds:F1} s; {string.Join("; ", dead.Select(d => PipelineHarness.Header(d, Topics.ErrorHeader)))}");

        Assert.Equal(messages.Select(m => m.ExpectedId).Order(StringComparer.Ordinal), spam.Select(s => s.Message.Key).Order(StringComparer.Ordinal));
        Assert.Equal(expectedClaims, claims.Count);
        Assert.Subset(claims.Select(c => c.Message.Key).ToHashSet(), articles.Select(a => a.Id).ToHashSet());
        if (reason is null)
        {
            Assert.Empty(dead);
            var output = Assert.Single(claims, c => c.Message.Key == hostile.LabelId);
            Assert.NotNull(JsonSerializer.Deserialize<ClaimsOutput>(output.Message.Value));
        }
        else
        {
            var letter = Assert.Single(dead);
            Assert.Equal(hostile.Key, letter.Message.Key);
            Assert.Contains(reason, PipelineHarness.Header(letter, Topics.ErrorHeader), StringComparison.Ordinal);
            Assert.Equal(hostile.Value, letter.Message.Value);
        }

        Assert.False(host.Services.GetRequiredService<ProcessorService>().ExecuteTask!.IsCompleted, "the processor stopped");
        await host.StopAsync();
    }

    /// <summary>
    /// Issue 11's must-show: every kind of <see cref="HostileCorpus"/> (messages and articles) produced before 1,000 valid
    /// inputs, to a processor whose producer takes at most <see cref="HostileCorpus.ProducerMessageMaxBytes"/>: every valid
    /// input labelled exactly once, every hostile one labelled or dead-lettered with its reason, the processor running.
    /// </summary>
    [ArticlesFact]
    public async Task Processor_HostileKindsBefore1000ValidInputs_ValidLabelledOnceHostileLabelledOrDeadLetteredWithReason()
    {
        var clock = Stopwatch.StartNew();
        var topics = TestTopics.Create(_kafka);
        var hostile = HostileCorpus.All("pp");
        Assert.True(hostile.Select(h => h.Kind).Distinct().Count() >= 30, $"{hostile.Count} kinds");
        var messages = InputCorpus.Mixed(700, 0, "pp-m");
        var articles = ArticleCorpus.Debates(300, "pp-a");
        Produce(topics, hostile);
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, messages);
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Articles, articles.Select(a => new TestInput(a.Id, ArticleCorpus.Json(a), a.Id, null)));
        var produced = clock.Elapsed;

        var labelledMessages = hostile.Count(h => h.Reason is null && h.Topic == HostileTopic.Messages);
        var labelledArticles = hostile.Count(h => h.Reason is null && h.Topic == HostileTopic.Articles);
        var deadMessages = hostile.Count(h => h.Reason is not null && h.Topic == HostileTopic.Messages);
        var deadArticles = hostile.Count(h => h.Reason is not null && h.Topic == HostileTopic.Articles);
        var extra = new Dictionary<string, string?> { ["Kafka:Producer:message.max.bytes"] = HostileCorpus.ProducerMessageMaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        using var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, "pp-" + Guid.NewGuid().ToString("N"), extra);
        var spam = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= messages.Count + labelledMessages, TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(1));
        var claims = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesClaims, r => r.Count >= articles.Count + labelledArticles, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1));
        var entities = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesEntities, r => r.Count >= articles.Count + labelledArticles, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
        var dead = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesDlq, r => r.Count >= deadMessages, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1))
            .Concat(PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.ArticlesDlq, r => r.Count >= deadArticles, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1))).ToList();
        var labelled = clock.Elapsed;

        // Still running: one more message, after all of that, is labelled too.
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, [new TestInput("pp-last", JsonSerializer.SerializeToUtf8Bytes(new MessageInput("pp-last", "Are we still on for tonight?")), "pp-last", null)]);
        var last = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Any(o => o.Message.Key == "pp-last"), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));
        Assert.False(host.Services.GetRequiredService<ProcessorService>().ExecuteTask!.IsCompleted, "the processor stopped");
        await host.StopAsync();

        foreach (var d in dead.OrderBy(d => d.Message.Key, StringComparer.Ordinal))
        {
            _output.WriteLine($"  {d.Message.Key}: {PipelineHarness.Header(d, Topics.ErrorHeader)}");
        }

        _output.WriteLine($"{hostile.Count} hostile ({hostile.Select(h => h.Kind).Distinct().Count()} kinds), {messages.Count} messages, {articles.Count} articles: produced in {produced.TotalSeconds:F1} s, "
            + $"{spam.Count} spam labels, {claims.Count} claims and {entities.Count} entities records, {dead.Count} dead letters by {labelled.TotalSeconds:F1} s");

        // Every valid input exactly once, next to the hostile ones that are labelled.
        var hostileLabels = hostile.Where(h => h.LabelId is not null).ToLookup(h => h.Topic, h => h.LabelId!);
        Assert.Equal(
            messages.Select(m => m.ExpectedId!).Concat(hostileLabels[HostileTopic.Messages]).Order(StringComparer.Ordinal),
            spam.Select(s => s.Message.Key).Order(StringComparer.Ordinal));
        Assert.Equal(
            articles.Select(a => a.Id).Concat(hostileLabels[HostileTopic.Articles]).Order(StringComparer.Ordinal),
            claims.Select(c => c.Message.Key).Order(StringComparer.Ordinal));
        Assert.Equal(articles.Count + labelledArticles, entities.Count);
        Assert.All(claims.Concat(entities), c => JsonDocument.Parse(c.Message.Value).Dispose());
        Assert.Contains(last, o => o.Message.Key == "pp-last");

        // Every hostile input that must be dead-lettered is, once, with its reason and, where it had to be cut, the mark.
        Assert.Equal(hostile.Where(h => h.Reason is not null).Select(h => h.Key).Order(StringComparer.Ordinal), dead.Select(d => d.Message.Key).Order(StringComparer.Ordinal));
        var byKey = hostile.ToDictionary(h => h.Key);
        Assert.All(dead, d =>
        {
            var input = byKey[d.Message.Key];
            Assert.Contains(input.Reason!, PipelineHarness.Header(d, Topics.ErrorHeader), StringComparison.Ordinal);
            Assert.True(d.Message.Value.Length + d.Message.Key.Length <= HostileCorpus.ProducerMessageMaxBytes, $"{input.Kind}: dead letter of {d.Message.Value.Length} bytes");
            if (input.DeadLetterHeader is { } mark)
            {
                Assert.False(string.IsNullOrEmpty(PipelineHarness.Header(d, mark)), $"{input.Kind}: no {mark} header");
            }
            else
            {
                Assert.Equal(input.Value ?? [], d.Message.Value ?? []);
            }
        });
    }

    private void Produce(TestTopics topics, IEnumerable<HostileInput> inputs)
    {
        using var producer = new ProducerBuilder<string, byte[]?>(Kafka.KafkaDefaults.Producer(_kafka.BootstrapServers)).Build();
        foreach (var input in inputs)
        {
            var headers = new Headers();
            foreach (var (name, value) in input.Headers)
            {
                headers.Add(name, value);
            }

            var topic = input.Topic == HostileTopic.Messages ? topics.Messages : topics.Articles;
            producer.Produce(topic, new Message<string, byte[]?> { Key = input.Key, Value = input.Value, Headers = headers }, report =>
                Assert.False(report.Error.IsError, $"{input.Kind}: {report.Error.Reason}"));
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }
}

/// <summary>A theory that needs the articles bundle: skipped, with the reason, when CoNLL-2003 is not available.</summary>
public sealed class ArticlesTheoryAttribute : TheoryAttribute
{
    public ArticlesTheoryAttribute()
    {
        if (ArticlesData.MissingReason is { } reason)
        {
            Skip = reason;
        }
    }
}
