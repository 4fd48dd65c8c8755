using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Preprocess;
using StreamBert.Training.Jobs;

namespace StreamBert.Processor.Tests.Pipeline;

/// <summary>A small spam bundle (400 SMS rows, 3 epochs: it must load, not score well) in a temporary registry.</summary>
public sealed class SpamRegistryFixture : IAsyncLifetime
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "streambert-nullengine-tests-" + Guid.NewGuid().ToString("N"));

    public string Registry => Path.Combine(_work, "registry");

    public EmbeddedKafkaFixture Kafka { get; } = new();

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_work);
        var sample = Path.Combine(_work, "sms-sample.tsv");
        await File.WriteAllLinesAsync(sample, File.ReadLines(Path.Combine(RepoRoot(), "data", "sms", "SMSSpamCollection.tsv")).Take(400));
        await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [sample], Registry = Registry, Epochs = 3 }, TextWriter.Null, CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        Kafka.Dispose();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("StreamBert.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// The real processor with <c>Processor:Engine=null</c> and parallel preprocessing against the embedded broker: every
/// input is labelled exactly once, each partition's records reach the engine in offset order, dead letters still go to
/// their topic, and the offsets of everything are committed.
/// </summary>
public sealed class NullEnginePipelineTests(SpamRegistryFixture fixture) : IClassFixture<SpamRegistryFixture>
{
    private const int Partitions = 3;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Drain_NullEngineWithParallelPreprocess_EveryInputLabelledOnceInPartitionOrderAndCommitted(int workers)
    {
        const int count = 3_000;
        var kafka = fixture.Kafka;
        var stem = $"null-{workers}-{Guid.NewGuid():N}";
        var topics = new TopicNames { Messages = stem + "-messages", MessagesSpam = stem + "-messages.spam", Models = stem + "-models" };
        foreach (var topic in new[] { topics.Messages, topics.MessagesSpam, Topics.DeadLetterOf(topics.Messages), topics.Models })
        {
            kafka.Broker.CreateTopic(topic, Partitions);
        }

        // Lengths from a few characters to several encoder windows (long messages are split and reassembled), and every
        // 100th record is not UTF-8: a dead letter that must keep its place among the labels.
        var expectedIds = new HashSet<string>();
        using (var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build())
        {
            for (var i = 0; i < count; i++)
            {
                var id = $"m{i}";
                byte[] value;
                if (i % 100 == 99)
                {
                    value = [0xC3, 0x28, 0xFF]; // not UTF-8
                }
                else
                {
                    value = JsonSerializer.SerializeToUtf8Bytes(new MessageInput(id, string.Join(' ', Enumerable.Repeat($"word{i % 13} call now", 1 + (i % 7 == 0 ? 60 : i % 11)))));
                    expectedIds.Add(id);
                }

                producer.Produce(topics.Messages, new Message<string, byte[]> { Key = id, Value = value });
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        var groupId = EmbeddedKafkaFixture.NewGroupId("null-engine");
        using var host = ProcessorHost.Build(
            new Dictionary<string, string?>
            {
                ["Processor:BootstrapServers"] = kafka.BootstrapServers,
                ["Processor:Registry"] = fixture.Registry,
                ["Processor:GroupId"] = groupId,
                ["Processor:Engine"] = "null",
                ["Processor:PreprocessWorkers"] = workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Processor:MetricsPort"] = "-1",
                ["Processor:CommitInterval"] = "00:00:00.100",
                ["Topics:Messages"] = topics.Messages,
                ["Topics:MessagesSpam"] = topics.MessagesSpam,
                ["Topics:Models"] = topics.Models,
                ["Kafka:Consumer:session.timeout.ms"] = "6000",
                ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
                ["Kafka:Consumer:fetch.wait.max.ms"] = "5",
            },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        var service = host.Services.GetRequiredService<ProcessorService>();
        var engineOrder = new ConcurrentQueue<(int Partition, long Offset)>();
        service.BatchStarted += (_, _, batch) =>
        {
            foreach (var work in batch.Items)
            {
                var position = ((SequenceOwner)work.State!).Document.Record.Position;
                engineOrder.Enqueue((position.Partition.Value, position.Offset.Value));
            }
        };

        await host.StartAsync();
        var labels = ReadAll(kafka, topics.MessagesSpam, expectedIds.Count);
        var deadLetters = ReadAll(kafka, Topics.DeadLetterOf(topics.Messages), count - expectedIds.Count);
        await host.StopAsync();

        // Exactly once: every valid input has one label, naming the served model; every invalid one a dead letter.
        var ids = labels.Select(m => JsonSerializer.Deserialize<SpamLabel>(m.Message.Value)!).ToList();
        Assert.Equal(expectedIds.Count, ids.Count);
        Assert.True(expectedIds.SetEquals(ids.Select(l => l.Id)), "labels are not the valid inputs, each once");
        Assert.All(ids, l => Assert.Equal(TaskNames.Spam, l.Model.Name));
        Assert.Contains(ids, l => l.Label == LabelSets.Spam);
        Assert.Contains(ids, l => l.Label == LabelSets.Ham);
        Assert.Equal(count - expectedIds.Count, deadLetters.Count);

        // Every sequence reached the engine in its partition's offset order (windows of one record share its offset).
        Assert.NotEmpty(engineOrder);
        foreach (var partition in engineOrder.GroupBy(p => p.Partition))
        {
            var offsets = partition.Select(p => p.Offset).ToList();
            for (var i = 1; i < offsets.Count; i++)
            {
                Assert.True(offsets[i] >= offsets[i - 1], $"partition {partition.Key}: offset {offsets[i]} reached the engine after {offsets[i - 1]}");
            }
        }

        Assert.True(host.Services.GetRequiredService<ProcessorMetrics>().Stages.Busy(PipelineStage.Preprocess) > TimeSpan.Zero);

        // At-least-once bookkeeping held with the workers: after the drain every partition is committed to its end.
        using var probe = new ConsumerBuilder<Ignore, Ignore>(kafka.ConsumerConfig(groupId)).Build();
        var assigned = Enumerable.Range(0, Partitions).Select(p => new TopicPartition(topics.Messages, p)).ToList();
        var committed = probe.Committed(assigned, TimeSpan.FromSeconds(10));
        long total = 0;
        foreach (var position in committed)
        {
            var end = probe.QueryWatermarkOffsets(position.TopicPartition, TimeSpan.FromSeconds(10)).High;
            Assert.Equal(end.Value, position.Offset.Value);
            total += end.Value;
        }

        Assert.Equal(count, total);
    }

    private static List<ConsumeResult<Ignore, byte[]>> ReadAll(EmbeddedKafkaFixture kafka, string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<Ignore, byte[]>(kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("reader"))).Build();
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<Ignore, byte[]>>();
        var deadline = DateTime.UtcNow + Patience;
        while (results.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                results.Add(result);
            }
        }

        // A moment more: a duplicate would arrive right behind the last expected record.
        var settle = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        while (DateTime.UtcNow < settle)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { Message: not null } result)
            {
                results.Add(result);
            }
        }

        consumer.Close();
        return results;
    }
}
