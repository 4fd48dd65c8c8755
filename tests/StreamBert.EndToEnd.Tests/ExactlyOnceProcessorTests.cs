using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// <c>Processor:Delivery=ExactlyOnce</c> through the whole processor (model, every stage, transactional egress) on the
/// embedded broker. The mock cluster runs the transactional calls but neither hides uncommitted records nor stores the
/// offsets a transaction sends (<c>../shared/KAFKA_LOCAL.md</c>), so this proves the code path labels everything and
/// commits in transactions; the guarantee itself is proven against Apache Kafka in <c>RealKafkaTests</c> (Docker).
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class ExactlyOnceProcessorTests : IClassFixture<EmbeddedKafkaFixture>
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly SpamModelFixture _model;

    public ExactlyOnceProcessorTests(EmbeddedKafkaFixture kafka, SpamModelFixture model)
    {
        _kafka = kafka;
        _model = model;
    }

    [Fact]
    public async Task Processor_ExactlyOnce_EveryValidInputLabelledOnceInvalidDeadLetteredInCommittedTransactions()
    {
        var topics = TestTopics.Create(_kafka);
        var inputs = InputCorpus.Mixed(600, 12, "eos");
        var valid = inputs.Where(i => i.Valid).ToList();
        var invalid = inputs.Where(i => !i.Valid).ToList();
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, inputs);

        using var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, "eos-" + Guid.NewGuid().ToString("N"), new Dictionary<string, string?>
        {
            ["Processor:Delivery"] = "ExactlyOnce",
            ["Processor:CommitInterval"] = "00:00:00.200",
        });
        var metrics = host.Services.GetRequiredService<ProcessorMetrics>();
        var outputs = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Select(o => o.Message.Key).Distinct().Count() >= valid.Count, TimeSpan.FromMinutes(3));
        var dead = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesDlq, r => r.Count >= invalid.Count, TimeSpan.FromMinutes(1));
        await host.StopAsync();

        Assert.Equal(0, host.Services.GetRequiredService<ProcessorService>().ExitCode);
        var labels = outputs.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!).ToList();
        Assert.Equal(valid.Select(v => v.ExpectedId).Order(), labels.Select(l => l.Id).Order());
        Assert.Equal(invalid.Select(i => i.Key).Order(), dead.Select(d => d.Message.Key).Order());
        Assert.All(dead, d => Assert.False(string.IsNullOrWhiteSpace(PipelineHarness.Header(d, Topics.ErrorHeader))));

        // Outputs went out in transactions that committed (several: one per commit interval), none aborted.
        Assert.True(metrics.TransactionsCommitted >= 2, $"{metrics.TransactionsCommitted} transactions committed");
        Assert.Equal(0, metrics.TransactionsAborted);
    }
}
