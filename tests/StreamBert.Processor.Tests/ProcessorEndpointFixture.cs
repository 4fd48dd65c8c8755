using System.Diagnostics;
using System.Net;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using StreamBert.Training.Jobs;
using StreamBert.Service.Diagnostics;

namespace StreamBert.Processor.Tests;

/// <summary>
/// A running processor for the endpoint tests: a spam model trained into a temporary registry on the first
/// 400 rows of the SMS Spam Collection (3 epochs: the tests need a model that loads and scores, not a good
/// one), an embedded cluster with GUID-named topics, and the endpoints on a free loopback port.
/// </summary>
public sealed class ProcessorEndpointFixture : IAsyncLifetime
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "streambert-processor-tests-" + Guid.NewGuid().ToString("N"));
    private IHost? _host;

    public EmbeddedKafkaFixture Kafka { get; } = new();

    public string MessagesTopic { get; } = "messages-" + Guid.NewGuid().ToString("N");

    public BundleManifest Model { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public ProcessorMetrics Metrics => _host!.Services.GetRequiredService<ProcessorMetrics>();

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_work);
        var sample = Path.Combine(_work, "sms-sample.tsv");
        await File.WriteAllLinesAsync(sample, File.ReadLines(Path.Combine(RepoRoot(), "data", "sms", "SMSSpamCollection.tsv")).Take(400));
        var registry = Path.Combine(_work, "registry");
        Model = await HeadTrainingJob.RunAsync(
            TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [sample], Registry = registry, Epochs = 3 },
            TextWriter.Null,
            CancellationToken.None);

        Kafka.Broker.CreateTopic(MessagesTopic, 2);
        Kafka.Broker.CreateTopic(MessagesTopic + "-spam", 2);
        Kafka.Broker.CreateTopic(Topics.DeadLetterOf(MessagesTopic), 2);
        _host = ProcessorHost.Build(
            new Dictionary<string, string?>
            {
                ["Processor:BootstrapServers"] = Kafka.BootstrapServers,
                ["Processor:Registry"] = registry,
                ["Processor:GroupId"] = EmbeddedKafkaFixture.NewGroupId("endpoints"),
                ["Processor:MetricsHost"] = "127.0.0.1",
                ["Processor:MetricsPort"] = "0",
                ["Processor:BrokerContactTimeout"] = "00:00:05",
                ["Topics:Messages"] = MessagesTopic,
                ["Topics:MessagesSpam"] = MessagesTopic + "-spam",
                ["Kafka:Consumer:session.timeout.ms"] = "6000",
                ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
                ["Kafka:Consumer:fetch.wait.max.ms"] = "5",
                // Reconnect within a second once the brokers are back (librdkafka backs off up to 10 s by default).
                ["Kafka:Consumer:reconnect.backoff.max.ms"] = "1000",
                ["Kafka:Producer:reconnect.backoff.max.ms"] = "1000",
            },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        await _host.StartAsync();
        await _host.Services.GetRequiredService<ProcessorService>().Started.WaitAsync(TimeSpan.FromMinutes(1));
        var port = _host.Services.GetRequiredService<ObservabilityServer>().Port ?? throw new InvalidOperationException("endpoints not started");
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public void Produce(int count)
    {
        using var producer = new ProducerBuilder<string, string>(KafkaDefaults.Producer(Kafka.BootstrapServers)).Build();
        for (var i = 0; i < count; i++)
        {
            producer.Produce(MessagesTopic, new Message<string, string> { Key = $"m{i}", Value = $$"""{"id":"m{{i}}","body":"WINNER!! Claim your free prize now, call 09061701461"}""" });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }

    /// <summary>Polls <paramref name="path"/> until it answers <paramref name="status"/>; returns the last status and body.</summary>
    public async Task<(HttpStatusCode Status, string Body)> GetUntilAsync(string path, HttpStatusCode status, TimeSpan timeout, Func<string, bool>? bodyCondition = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var response = await Http.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            if ((response.StatusCode == status && (bodyCondition?.Invoke(body) ?? true)) || clock.Elapsed > timeout)
            {
                return (response.StatusCode, body);
            }

            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
        }

        Kafka.Dispose();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
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
