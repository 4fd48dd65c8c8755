using System.Net;
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
using StreamBert.Trainer;
using StreamBert.Training.Data;
using StreamBert.Service.Diagnostics;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// The training service under faults, on the embedded broker and without a model (no run gets far): a fatal client
/// error and a dead letter that cannot be sent stop the host without committing; a loop that stops moving while work
/// waits turns <c>/healthz</c> to 503; the label book stays within its byte budget, one label per item.
/// </summary>
public sealed class TrainerRobustnessTests : IClassFixture<EmbeddedKafkaFixture>, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly string _registry = Path.Combine(Path.GetTempPath(), "streambert-trainer-faults-" + Guid.NewGuid().ToString("N"));
    private readonly string _labels;
    private readonly string _dlq;
    private readonly string _group = EmbeddedKafkaFixture.NewGroupId("trainer-faults");

    public TrainerRobustnessTests(EmbeddedKafkaFixture kafka)
    {
        _kafka = kafka;
        _labels = kafka.NewTopic("labels-spam", 1);
        _dlq = kafka.NewTopic("labels-dlq", 1);
        Directory.CreateDirectory(_registry);
    }

    public void Dispose()
    {
        Directory.Delete(_registry, recursive: true);
        // The fatal paths set the process exit code (the service's catch that also stops the host, which the tests see
        // through the faulted loop); a test process must not inherit it.
        Environment.ExitCode = 0;
    }

    [Fact]
    public async Task Trainer_FatalConsumerError_LoopFaultsAndHostStops()
    {
        using var host = Build(new()
        {
            // Static membership: the coordinator fencing this instance is fatal for the consumer (KIP-345).
            ["Kafka:Consumer:group.instance.id"] = "trainer-" + Guid.NewGuid().ToString("N"),
        });
        var trainer = host.Services.GetRequiredService<TrainerService>();
        await host.StartAsync();
        await trainer.Started.WaitAsync(Patience);
        Produce(JsonLabel("hello there", LabelSets.Ham));
        try
        {
            _kafka.Broker.PushRequestErrors(KafkaApiKey.Heartbeat, Enumerable.Repeat(ErrorCode.FencedInstanceId, 10).ToArray());

            await StoppedAsync(host);
            var fault = await Assert.ThrowsAnyAsync<KafkaException>(() => trainer.ExecuteTask!);
            Assert.True(fault.Error.IsFatal, fault.Message);
            Assert.False(trainer.Liveness().Alive);
        }
        finally
        {
            _kafka.Broker.ClearRequestErrors(KafkaApiKey.Heartbeat);
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Trainer_DeadLetterSendFails_StopsWithoutCommittingPastTheLabel()
    {
        Produce(JsonLabel("first", LabelSets.Ham), Encoding.UTF8.GetBytes("{not json"), JsonLabel("third", LabelSets.Spam));

        // The trainer's producer sends nothing before the dead letter: its first produce request gets the error.
        _kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 20).ToArray());
        using var host = Build(new() { ["Kafka:Producer:message.timeout.ms"] = "5000" });
        var trainer = host.Services.GetRequiredService<TrainerService>();
        try
        {
            await host.StartAsync();

            await StoppedAsync(host);
            var fault = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => trainer.ExecuteTask!);
            Assert.Contains("Dead-lettering label record", fault.Message, StringComparison.Ordinal);
        }
        finally
        {
            _kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
            await host.StopAsync();
        }

        using var consumer = new ConsumerBuilder<byte[], byte[]>(_kafka.ConsumerConfig(_group)).Build();
        var committed = consumer.Committed([new TopicPartition(_labels, 0)], TimeSpan.FromSeconds(10));
        Assert.True(committed[0].Offset.Value <= 1, $"committed {committed[0].Offset} past the label that was not dead-lettered (offset 1)");
    }

    [Fact]
    public async Task Trainer_LoopStalledWhileARunWaits_HealthzAnswers503ThenRecovers()
    {
        using var release = new ManualResetEventSlim();
        using var runStarted = new ManualResetEventSlim();
        using var host = Build(new() { ["Trainer:MinNewLabels"] = "1", ["Trainer:LivenessTimeout"] = "00:00:02" });
        var trainer = host.Services.GetRequiredService<TrainerService>();

        // The run's start is on the consume loop's thread: holding it stalls the loop with a run under way.
        trainer.RunStarted += (_, _) =>
        {
            runStarted.Set();
            release.Wait(Patience);
        };
        await host.StartAsync();
        await trainer.Started.WaitAsync(Patience);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.Services.GetRequiredService<ObservabilityServer>().Port}") };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        try
        {
            Produce(JsonLabel("win a prize now", LabelSets.Spam));
            Assert.True(runStarted.Wait(Patience), "no run started");

            Assert.True(await StatusWithinAsync(http, HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(15)), "/healthz stayed 200 while the loop was stalled");
            Assert.Contains("no progress", await http.GetStringAsync(new Uri("/healthz", UriKind.Relative)).ContinueWith(t => t.IsFaulted ? "" : t.Result, TaskScheduler.Default) + trainer.Liveness().Reason, StringComparison.Ordinal);
        }
        finally
        {
            release.Set();
        }

        // The run fails (the registry has no model to start from) and the loop moves again.
        Assert.True(await StatusWithinAsync(http, HttpStatusCode.OK, TimeSpan.FromSeconds(15)), "/healthz did not recover once the loop moved");
        await host.StopAsync();
    }

    [Fact]
    public async Task Trainer_ManyLabels_BookKeepsLatestPerItemWithinItsBudget()
    {
        // Each label of ~100 characters takes ~450 estimated bytes: 20,000 bytes hold about 45 of them.
        using var host = Build(new() { ["Trainer:MaxBookBytesPerTask"] = "20000" });
        var trainer = host.Services.GetRequiredService<TrainerService>();
        await host.StartAsync();
        await trainer.Started.WaitAsync(Patience);

        var texts = Enumerable.Range(0, 400).Select(i => $"label number {i:D4} " + new string('x', 80)).ToList();
        Produce([.. texts.Select(t => JsonLabel(t, LabelSets.Ham)), .. Enumerable.Repeat(JsonLabel(texts[^1], LabelSets.Spam), 100), Encoding.UTF8.GetBytes("sentinel, not a label")]);

        // One partition: once the sentinel is dead-lettered, every label before it was read.
        Assert.Single(PipelineHarness.ReadAll(_kafka.BootstrapServers, _dlq, r => r.Count >= 1, Patience));
        var held = trainer.LabelCounts[TaskNames.Spam];
        Assert.InRange(held, 30, 50);
        await host.StopAsync();
    }

    [Fact]
    public void LabelBook_RelabelAndBudget_KeepsLatestPerItemEvictsOldest()
    {
        var book = new LabelBook(maxBytes: 2_000);
        for (var i = 0; i < 20; i++)
        {
            book.Add(new ParsedLabel(TaskNames.Spam, new LabeledText($"text {i}", LabelSets.Ham), null, null), isNew: true);
        }

        book.Add(new ParsedLabel(TaskNames.Spam, new LabeledText("text 19", LabelSets.Spam), null, null), isNew: true);
        book.Add(new ParsedLabel(TaskNames.Ner, null, new NerSentence(["EU", "rejects"], ["B-ORG", "O"]), null), isNew: false);

        Assert.InRange(book.Bytes, 1, 2_000);
        Assert.True(book.Evicted > 0);
        var texts = book.Texts();
        Assert.Equal(texts.Count, texts.Select(t => t.Text).Distinct().Count());
        Assert.Equal(new LabeledText("text 19", LabelSets.Spam), texts[^1]);
        Assert.DoesNotContain(texts, t => t.Text == "text 0");
        Assert.Single(book.Sentences());
        Assert.Equal(21, book.Pending);
    }

    private IHost Build(Dictionary<string, string?> settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["Trainer:BootstrapServers"] = _kafka.BootstrapServers,
            ["Trainer:Registry"] = _registry,
            ["Trainer:GroupId"] = _group,
            ["Trainer:MinNewLabels"] = "1000000",
            ["Trainer:MetricsPort"] = "0",
            ["Topics:LabelsSpam"] = _labels,
            ["Topics:LabelsClaims"] = _kafka.NewTopic("labels-claims", 1),
            ["Topics:LabelsEntities"] = _kafka.NewTopic("labels-entities", 1),
            ["Topics:LabelsDlq"] = _dlq,
            ["Topics:Models"] = _kafka.NewTopic("models", 1),
            ["Kafka:Consumer:session.timeout.ms"] = "6000",
            ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
            ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return TrainerHost.Build(all, logging => logging.SetMinimumLevel(LogLevel.Warning));
    }

    private static async Task StoppedAsync(IHost host)
    {
        var stopping = new TaskCompletionSource();
        using var registration = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stopping.TrySetResult());
        await stopping.Task.WaitAsync(Patience);
    }

    private static async Task<bool> StatusWithinAsync(HttpClient http, HttpStatusCode status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if ((await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode == status)
            {
                return true;
            }

            await Task.Delay(200);
        }

        return false;
    }

    private void Produce(params byte[][] values)
    {
        using var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build();
        var i = 0;
        foreach (var value in values)
        {
            producer.Produce(_labels, new Message<string, byte[]> { Key = "label-" + i++, Value = value });
        }

        Assert.Equal(0, producer.Flush(Patience));
    }

    private static byte[] JsonLabel(string text, string label) => JsonSerializer.SerializeToUtf8Bytes(new { text, label });
}
