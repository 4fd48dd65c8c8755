using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Hosting;

namespace StreamBert.EndToEnd.Tests;

/// <summary>GUID-named topics for one test, so tests share a cluster without seeing each other's records.</summary>
public sealed record TestTopics(string Messages, string MessagesSpam, string MessagesDlq, string Articles, string ArticlesClaims, string ArticlesEntities, string ArticlesDlq)
{
    public static TestTopics Create(EmbeddedKafkaFixture kafka, int partitions = 3)
    {
        var messages = kafka.NewTopic("messages", partitions);
        var articles = kafka.NewTopic("articles", partitions);
        var topics = new TestTopics(messages, messages + "-spam", Topics.DeadLetterOf(messages), articles, articles + "-claims", articles + "-entities", Topics.DeadLetterOf(articles));
        foreach (var t in new[] { topics.MessagesSpam, topics.MessagesDlq, topics.ArticlesClaims, topics.ArticlesEntities, topics.ArticlesDlq })
        {
            kafka.Broker.CreateTopic(t, partitions);
        }

        return topics;
    }

    public Dictionary<string, string?> Configuration(string bootstrap, string registry, string group) => new()
    {
        ["Processor:BootstrapServers"] = bootstrap,
        ["Processor:Registry"] = registry,
        ["Processor:GroupId"] = group,
        // Several processors run in one test process: each takes a free port for its endpoints.
        ["Processor:MetricsPort"] = "0",
        ["Topics:Messages"] = Messages,
        ["Topics:MessagesSpam"] = MessagesSpam,
        ["Topics:Articles"] = Articles,
        ["Topics:ArticlesClaims"] = ArticlesClaims,
        ["Topics:ArticlesEntities"] = ArticlesEntities,
        ["Kafka:Consumer:session.timeout.ms"] = "6000",
        ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
        // The embedded broker holds a fetch for the whole wait even when records arrive; keep it short.
        ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
    };
}

public static class PipelineHarness
{
    public static IHost StartProcessor(TestTopics topics, string bootstrap, string registry, string group, IDictionary<string, string?>? extra = null, CapturedLog? log = null)
    {
        var config = topics.Configuration(bootstrap, registry, group);
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            config[k] = v;
        }

        var host = ProcessorHost.Build(config, logging =>
        {
            logging.SetMinimumLevel(log is null ? LogLevel.Warning : LogLevel.Information);
            if (log is not null)
            {
                logging.AddProvider(log);
            }
        });
        host.Start();
        host.Services.GetRequiredService<ProcessorService>().Started.Wait(TimeSpan.FromMinutes(2));
        return host;
    }

    public static void Produce(string bootstrap, string topic, IEnumerable<TestInput> inputs)
    {
        using var producer = new ProducerBuilder<string, byte[]>(Kafka.KafkaDefaults.Producer(bootstrap)).Build();
        foreach (var input in inputs)
        {
            producer.Produce(topic, new Message<string, byte[]> { Key = input.Key, Value = input.Value });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }

    /// <summary>Produces evenly over <paramref name="over"/>; returns how many the broker acknowledged.</summary>
    public static int ProducePaced(string bootstrap, string topic, IReadOnlyList<TestInput> inputs, TimeSpan over)
    {
        var config = Kafka.KafkaDefaults.Producer(bootstrap);
        config.MessageTimeoutMs = 120_000;
        using var producer = new ProducerBuilder<string, byte[]>(config).Build();
        var delivered = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < inputs.Count; i++)
        {
            producer.Produce(topic, new Message<string, byte[]> { Key = inputs[i].Key, Value = inputs[i].Value }, r =>
            {
                if (!r.Error.IsError)
                {
                    Interlocked.Increment(ref delivered);
                }
            });
            var due = over * ((i + 1.0) / inputs.Count) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                Thread.Sleep(due);
            }
        }

        producer.Flush(TimeSpan.FromSeconds(120));
        return delivered;
    }

    /// <summary>Reads a topic from the beginning until <paramref name="done"/> holds or nothing new arrives for <paramref name="quiet"/>.</summary>
    public static List<ConsumeResult<string, byte[]>> ReadAll(string bootstrap, string topic, Func<List<ConsumeResult<string, byte[]>>, bool> done, TimeSpan timeout, TimeSpan? quiet = null)
    {
        var config = Kafka.KafkaDefaults.Consumer(bootstrap, "reader-" + Guid.NewGuid().ToString("N"));
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        using var consumer = new ConsumerBuilder<string, byte[]>(config).Build();
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<string, byte[]>>();
        var clock = Stopwatch.StartNew();
        var lastArrival = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result?.Message is not null)
            {
                results.Add(result);
                lastArrival.Restart();
            }
            else if (done(results) && lastArrival.Elapsed > (quiet ?? TimeSpan.FromSeconds(2)))
            {
                break;
            }
        }

        consumer.Close();
        return results;
    }

    public static string Header(ConsumeResult<string, byte[]> record, string name) =>
        record.Message.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : "";
}
