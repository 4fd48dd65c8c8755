using System.Text.Json;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Review.Articles;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Tests;

/// <summary>
/// The desk running in-process on a free loopback port against the embedded cluster, with topics of its own: a test
/// produces inputs and outputs the way the processor would, and reads what the desk wrote to the label topic.
/// </summary>
internal sealed class RunningDesk : IAsyncDisposable
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly WebApplication _app;

    private RunningDesk(EmbeddedKafkaFixture kafka, WebApplication app, string messages, string spam, string labels, ArticleTopics articles, string models)
    {
        _kafka = kafka;
        _app = app;
        MessagesTopic = messages;
        SpamTopic = spam;
        LabelsTopic = labels;
        ArticleTopic = articles;
        ModelsTopic = models;
    }

    public string MessagesTopic { get; }
    public string SpamTopic { get; }
    public string LabelsTopic { get; }
    public string ModelsTopic { get; }
    public Uri Address => _app.Address();
    public SpamQueue Queue => _app.Services.GetRequiredService<SpamQueue>();
    public ArticleTopics ArticleTopic { get; }
    public ArticleQueue ArticleQueue => _app.Services.GetRequiredService<ArticleQueue>();

    /// <param name="registry">The registry the models page shows and changes (default: none there, an empty page).</param>
    public static async Task<RunningDesk> StartAsync(EmbeddedKafkaFixture kafka, string? token = null, string? registry = null)
    {
        var (messages, spam, labels) = (kafka.NewTopic("messages", 1), kafka.NewTopic("messages-spam", 1), kafka.NewTopic("labels-spam", 1));
        var articles = new ArticleTopics(kafka.NewTopic("articles", 1), kafka.NewTopic("articles-claims", 1), kafka.NewTopic("articles-entities", 1),
            kafka.NewTopic("labels-claims", 1), kafka.NewTopic("labels-entities", 1));
        var models = kafka.NewTopic("models", 1);
        var settings = new Dictionary<string, string?>
        {
            ["Review:BootstrapServers"] = kafka.BootstrapServers,
            ["Review:GroupId"] = EmbeddedKafkaFixture.NewGroupId("review"),
            ["Review:Urls"] = "http://127.0.0.1:0",
            ["Review:Token"] = token,
            ["Topics:Messages"] = messages,
            ["Topics:MessagesSpam"] = spam,
            ["Topics:LabelsSpam"] = labels,
            ["Topics:Articles"] = articles.Articles,
            ["Topics:ArticlesClaims"] = articles.Claims,
            ["Topics:ArticlesEntities"] = articles.Entities,
            ["Topics:LabelsClaims"] = articles.LabelsClaims,
            ["Topics:LabelsEntities"] = articles.LabelsEntities,
            ["Topics:Models"] = models,
            ["Review:Registry"] = registry ?? Path.Combine(Path.GetTempPath(), $"streambert-no-registry-{Guid.NewGuid():N}"),

            // The embedded cluster completes a group join after session.timeout.ms - 1 s (KafkaDefaults says why).
            ["Kafka:Consumer:session.timeout.ms"] = "3000",
            ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
            ["Kafka:Consumer:fetch.wait.max.ms"] = "100",
        };
        var app = ReviewApp.Build(settings, logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        await app.StartAsync();
        return new RunningDesk(kafka, app, messages, spam, labels, articles, models);
    }

    /// <summary>Produces an input on the messages topic and the processor's verdict on it on the spam topic.</summary>
    public async Task ProduceAsync(MessageInput input, SpamLabel verdict)
    {
        using var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build();
        await producer.ProduceAsync(MessagesTopic, new Message<string, byte[]> { Key = input.Id, Value = JsonSerializer.SerializeToUtf8Bytes(input) });
        await producer.ProduceAsync(SpamTopic, new Message<string, byte[]> { Key = verdict.Id, Value = JsonSerializer.SerializeToUtf8Bytes(verdict) });
    }

    /// <summary>Produces an article and the processor's claims and entities on it, as the processor would.</summary>
    public async Task ProduceAsync(Articles article)
    {
        using var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build();
        await producer.ProduceAsync(ArticleTopic.Articles, new Message<string, byte[]> { Key = article.Input.Id, Value = JsonSerializer.SerializeToUtf8Bytes(article.Input) });
        await producer.ProduceAsync(ArticleTopic.Claims, new Message<string, byte[]> { Key = article.Input.Id, Value = JsonSerializer.SerializeToUtf8Bytes(article.Claims) });
        await producer.ProduceAsync(ArticleTopic.Entities, new Message<string, byte[]> { Key = article.Input.Id, Value = JsonSerializer.SerializeToUtf8Bytes(article.Entities) });
    }

    /// <summary>Produces a label record as another desk (or a reviewer before a restart) would have written it.</summary>
    public async Task ProduceLabelAsync(string topic, string key, object label)
    {
        using var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build();
        await producer.ProduceAsync(topic, new Message<string, byte[]> { Key = key, Value = JsonSerializer.SerializeToUtf8Bytes(label) });
    }

    /// <summary>Waits until the article <paramref name="id"/> is in the article queue (the feed has read all three records).</summary>
    public async Task<ArticleItem> ArticleQueuedAsync(string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (ArticleQueue.Find(id) is { } item)
            {
                return item;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{id} never reached the article queue");
    }

    /// <summary>Waits until <paramref name="id"/> is in the review queue (the feed has read both halves).</summary>
    public async Task<SpamItem> QueuedAsync(string id, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            if (Queue.Find(id) is { } item)
            {
                return item;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{id} never reached the review queue");
    }

    /// <summary>The records on the label topic, read from the beginning until <paramref name="count"/> arrived or the time is up.</summary>
    public List<ConsumeResult<string, byte[]>> ReadLabels(int count, TimeSpan timeout) => ReadLabels(LabelsTopic, count, timeout);

    /// <summary>The records on <paramref name="topic"/>, read from the beginning until <paramref name="count"/> arrived or the time is up.</summary>
    public List<ConsumeResult<string, byte[]>> ReadLabels(string topic, int count, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<string, byte[]>(_kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("labels-reader"))).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var labels = new List<ConsumeResult<string, byte[]>>();
        var deadline = DateTime.UtcNow + timeout;
        while (labels.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                labels.Add(result);
            }
        }

        return labels;
    }

    /// <summary>The events on the models topic, read from the beginning until <paramref name="count"/> arrived or the time is up.</summary>
    public List<ModelPublished> ReadModelEvents(int count, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<string, byte[]>(_kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("models-reader"))).Build();
        consumer.Assign(new TopicPartitionOffset(ModelsTopic, 0, Offset.Beginning));
        var events = new List<ModelPublished>();
        var deadline = DateTime.UtcNow + timeout;
        while (events.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                events.Add(ModelEvents.Parse(result.Message.Value));
            }
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The article topics of one running desk: inputs, the processor's outputs, and the two label topics it writes.</summary>
internal sealed record ArticleTopics(string Articles, string Claims, string Entities, string LabelsClaims, string LabelsEntities);
