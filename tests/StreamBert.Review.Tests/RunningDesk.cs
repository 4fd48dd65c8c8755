using System.Text.Json;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
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

    private RunningDesk(EmbeddedKafkaFixture kafka, WebApplication app, string messages, string spam, string labels, string models)
    {
        _kafka = kafka;
        _app = app;
        MessagesTopic = messages;
        SpamTopic = spam;
        LabelsTopic = labels;
        ModelsTopic = models;
    }

    public string MessagesTopic { get; }
    public string SpamTopic { get; }
    public string LabelsTopic { get; }
    public string ModelsTopic { get; }
    public Uri Address => _app.Address();
    public SpamQueue Queue => _app.Services.GetRequiredService<SpamQueue>();

    /// <param name="registry">The registry the models page shows and changes (default: none there, an empty page).</param>
    public static async Task<RunningDesk> StartAsync(EmbeddedKafkaFixture kafka, string? token = null, string? registry = null)
    {
        var (messages, spam, labels) = (kafka.NewTopic("messages", 1), kafka.NewTopic("messages-spam", 1), kafka.NewTopic("labels-spam", 1));
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
            ["Topics:Models"] = models,
            ["Review:Registry"] = registry ?? Path.Combine(Path.GetTempPath(), $"streambert-no-registry-{Guid.NewGuid():N}"),

            // The embedded cluster completes a group join after session.timeout.ms - 1 s (KafkaDefaults says why).
            ["Kafka:Consumer:session.timeout.ms"] = "3000",
            ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
            ["Kafka:Consumer:fetch.wait.max.ms"] = "100",
        };
        var app = ReviewApp.Build(settings, logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        await app.StartAsync();
        return new RunningDesk(kafka, app, messages, spam, labels, models);
    }

    /// <summary>Produces an input on the messages topic and the processor's verdict on it on the spam topic.</summary>
    public async Task ProduceAsync(MessageInput input, SpamLabel verdict)
    {
        using var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build();
        await producer.ProduceAsync(MessagesTopic, new Message<string, byte[]> { Key = input.Id, Value = JsonSerializer.SerializeToUtf8Bytes(input) });
        await producer.ProduceAsync(SpamTopic, new Message<string, byte[]> { Key = verdict.Id, Value = JsonSerializer.SerializeToUtf8Bytes(verdict) });
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
    public List<ConsumeResult<string, byte[]>> ReadLabels(int count, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<string, byte[]>(_kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("labels-reader"))).Build();
        consumer.Assign(new TopicPartitionOffset(LabelsTopic, 0, Offset.Beginning));
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
