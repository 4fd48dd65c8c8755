using System.Collections.Concurrent;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Trainer;
using StreamBert.Training.Data;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Registry CURRENT and the models topic agree: the event goes first and CURRENT moves only once the broker acknowledged it
/// (trainer, <c>models promote</c>, <c>models rollback</c>), and a trainer that starts makes CURRENT follow the topic.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class ModelCurrentTests : IClassFixture<EmbeddedKafkaFixture>, IDisposable
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly ITestOutputHelper _output;
    private readonly string _registry;
    private readonly ModelRegistry _models;

    public ModelCurrentTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _output = output;
        _registry = Path.Combine(Path.GetTempPath(), "streambert-current-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.GetFiles(model.Registry, "*", SearchOption.AllDirectories))
        {
            var target = file.Replace(model.Registry, _registry, StringComparison.Ordinal);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        _models = new ModelRegistry(_registry);
    }

    public void Dispose()
    {
        _kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
        if (Directory.Exists(_registry))
        {
            Directory.Delete(_registry, recursive: true);
        }
    }

    [Fact]
    public async Task Trainer_ModelsTopicNamesAnotherVersionThanCurrent_CurrentFollowsTheTopicOnStart()
    {
        var models = _kafka.NewTopic("models", 1);
        HotSwapTests.PublishCopy(_models, "spam", "v1");
        HotSwapTests.PublishCopy(_models, "spam", "v1");
        Assert.Equal("v3", _models.CurrentVersion("spam"));
        // v3 announced, then rolled back to v2 by an operator whose CURRENT write never happened (or was undone by hand).
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, _models.EventFor("spam", "v3", "trained"), CancellationToken.None);
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, _models.EventFor("spam", "v2", "rollback"), CancellationToken.None);

        using var host = StartTrainer(models, minNewLabels: 10_000);
        await host.Services.GetRequiredService<TrainerService>().Started.WaitAsync(TimeSpan.FromMinutes(1));
        await host.StopAsync();

        Assert.Equal("v2", _models.CurrentVersion("spam"));
    }

    [Fact]
    public async Task Trainer_ModelsTopicNamesAVersionThatFailsVerification_CurrentStays()
    {
        var models = _kafka.NewTopic("models", 1);
        var version = HotSwapTests.PublishCopy(_models, "spam", "v1");
        _models.SetCurrent("spam", "v1");
        var published = _models.EventFor("spam", version, "promote");
        File.AppendAllText(Path.Combine(_models.BundleDirectory("spam", version), "vocab.txt"), "tampered\n");
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, published, CancellationToken.None);

        using var host = StartTrainer(models, minNewLabels: 10_000);
        await host.Services.GetRequiredService<TrainerService>().Started.WaitAsync(TimeSpan.FromMinutes(1));
        await host.StopAsync();

        Assert.Equal("v1", _models.CurrentVersion("spam"));
    }

    [Fact]
    public async Task Trainer_ModelsTopicRefusesTheEvent_CurrentUnchangedUntilARunIsAnnounced()
    {
        var models = _kafka.NewTopic("models", 1);
        var labels = _kafka.NewTopic("labels-spam", 1);
        using var outcomes = new BlockingCollection<TrainingOutcome>();
        using var host = StartTrainer(models, minNewLabels: 40, labels);
        var trainer = host.Services.GetRequiredService<TrainerService>();

        // The broker refuses the first run's event; the run after it publishes.
        var refuse = true;
        trainer.RunStarted += (_, _) =>
        {
            if (refuse)
            {
                _kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);
            }
        };
        trainer.RunCompleted += outcome =>
        {
            if (refuse)
            {
                refuse = false;
                _kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
            }

            outcomes.Add(outcome);
        };
        await trainer.Started.WaitAsync(TimeSpan.FromMinutes(1));
        var sms = DatasetSplit.Split(DatasetSplit.Deduplicate(SpamDataReader.Read(RepoData.SmsSpamCollection)).Items).Train;
        var spam = sms.Where(r => r.Label == LabelSets.Spam).Take(20);
        var ham = sms.Where(r => r.Label == LabelSets.Ham).Take(20);
        using (var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build())
        {
            foreach (var row in spam.Concat(ham))
            {
                producer.Produce(labels, new Message<string, byte[]> { Key = "k", Value = JsonSerializer.SerializeToUtf8Bytes(new { text = row.Text, label = row.Label }) });
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        Assert.True(outcomes.TryTake(out var first, TimeSpan.FromMinutes(4)), "no training run within 4 minutes");
        _output.WriteLine($"first: {first.Reason}");
        Assert.Null(first.Published);
        Assert.StartsWith("not announced", first.Reason, StringComparison.Ordinal);
        Assert.Equal("v1", _models.CurrentVersion("spam"));
        Assert.Contains("v2", _models.Versions("spam")); // written, neither current nor announced

        Assert.True(outcomes.TryTake(out var second, TimeSpan.FromMinutes(4)), "no second training run within 4 minutes");
        _output.WriteLine($"second: {second.Reason}");
        var events = PipelineHarness.ReadAll(_kafka.BootstrapServers, models, r => r.Count >= 1, TimeSpan.FromSeconds(30));
        await host.StopAsync();

        Assert.Equal("v3", second.Published?.Version);
        Assert.Equal("v3", _models.CurrentVersion("spam"));
        Assert.Equal("v3", ModelEvents.Parse(Assert.Single(events).Message.Value).Version);
    }

    [Fact]
    public async Task Promote_WithoutBootstrap_RefusedWithExit2AndCurrentUnchanged()
    {
        HotSwapTests.PublishCopy(_models, "spam", "v1");

        var exit = await Cli("models", "promote", "spam", "v1", "--registry", _registry);

        Assert.Equal(2, exit);
        Assert.Equal("v2", _models.CurrentVersion("spam"));
    }

    [Fact]
    public async Task Promote_RegistryOnly_MovesCurrentAndPublishesNothing()
    {
        HotSwapTests.PublishCopy(_models, "spam", "v1");

        var exit = await Cli("models", "promote", "spam", "v1", "--registry", _registry, "--registry-only");

        Assert.Equal(0, exit);
        Assert.Equal("v1", _models.CurrentVersion("spam"));
    }

    [Fact]
    public async Task Promote_BrokerRefusesTheEvent_FailsAndCurrentUnchanged()
    {
        var models = _kafka.NewTopic("models", 1);
        HotSwapTests.PublishCopy(_models, "spam", "v1");
        _kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);

        var exit = await Cli("models", "promote", "spam", "v1", "--registry", _registry, "--bootstrap", _kafka.BootstrapServers, "--topic", models);

        Assert.NotEqual(0, exit);
        Assert.Equal("v2", _models.CurrentVersion("spam"));
    }

    [Fact]
    public async Task Rollback_WithBootstrap_PublishesTheRollbackAndMovesCurrent()
    {
        var models = _kafka.NewTopic("models", 1);
        HotSwapTests.PublishCopy(_models, "spam", "v1");

        var exit = await Cli("models", "rollback", "spam", "--registry", _registry, "--bootstrap", _kafka.BootstrapServers, "--topic", models);

        Assert.Equal(0, exit);
        Assert.Equal("v1", _models.CurrentVersion("spam"));
        var published = ModelEvents.Parse(Assert.Single(PipelineHarness.ReadAll(_kafka.BootstrapServers, models, r => r.Count >= 1, TimeSpan.FromSeconds(30))).Message.Value);
        Assert.Equal(("v1", "rollback"), (published.Version, published.Reason));
    }

    private static Task<int> Cli(params string[] args)
    {
        var root = new System.CommandLine.RootCommand();
        root.Subcommands.Add(ModelsCommand.Create());
        return root.Parse(args).InvokeAsync();
    }

    private IHost StartTrainer(string models, int minNewLabels, string? labels = null)
    {
        // A small fixed evaluation file keeps a run to seconds; tolerance 1 lets any candidate through the gate.
        var evalFile = Path.Combine(_registry, "eval.tsv");
        var heldOut = DatasetSplit.Split(DatasetSplit.Deduplicate(SpamDataReader.Read(RepoData.SmsSpamCollection)).Items).Test;
        File.WriteAllLines(evalFile, heldOut.Where(r => r.Label == LabelSets.Spam).Take(20).Concat(heldOut.Where(r => r.Label == LabelSets.Ham).Take(20)).Select(r => $"{r.Label}\t{r.Text}"));
        var host = TrainerHost.Build(new Dictionary<string, string?>
        {
            ["Trainer:BootstrapServers"] = _kafka.BootstrapServers,
            ["Trainer:Registry"] = _registry,
            ["Trainer:GroupId"] = "trainer-" + Guid.NewGuid().ToString("N"),
            ["Trainer:MinNewLabels"] = minNewLabels.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Trainer:Tolerance"] = "1",
            ["Trainer:EvalFiles:spam"] = evalFile,
            ["Trainer:MetricsPort"] = "-1",
            ["Topics:LabelsSpam"] = labels ?? _kafka.NewTopic("labels-spam", 1),
            ["Topics:LabelsClaims"] = _kafka.NewTopic("labels-claims", 1),
            ["Topics:LabelsEntities"] = _kafka.NewTopic("labels-entities", 1),
            ["Topics:LabelsDlq"] = _kafka.NewTopic("labels-dlq", 1),
            ["Topics:Models"] = models,
            ["Kafka:Consumer:session.timeout.ms"] = "6000",
            ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
            ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
        }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        host.Start();
        return host;
    }
}
