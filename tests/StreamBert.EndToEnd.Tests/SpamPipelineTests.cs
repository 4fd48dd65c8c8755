using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Hosting;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

[Collection(SpamModelCollection.Name)]
public sealed class SpamPipelineTests : IClassFixture<EmbeddedKafkaFixture>
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly SpamModelFixture _model;
    private readonly ITestOutputHelper _output;

    public SpamPipelineTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _model = model;
        _output = output;
    }

    [Fact]
    public async Task Processor_5000MixedInputs_OneOutputPerValidAndOneDeadLetterPerInvalid()
    {
        var topics = TestTopics.Create(_kafka);
        var inputs = InputCorpus.Mixed(5000, 50, "mix");
        var valid = inputs.Where(i => i.Valid).ToList();
        var invalid = inputs.Where(i => !i.Valid).ToList();
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, inputs);

        using (var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, "e2e-" + Guid.NewGuid().ToString("N")))
        {
            var outputs = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Select(o => o.Message.Key).Distinct().Count() >= valid.Count, TimeSpan.FromMinutes(6));
            var dead = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesDlq, r => r.Count >= invalid.Count, TimeSpan.FromMinutes(1));
            await host.StopAsync();

            var labels = outputs.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!).ToList();
            Assert.Equal(valid.Count, labels.Count);
            Assert.Equal(valid.Select(v => v.ExpectedId).Order(), labels.Select(l => l.Id).Order());
            Assert.All(outputs, o => Assert.Equal(JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!.Id, o.Message.Key));
            Assert.All(labels, l => Assert.Equal(new ModelRef("spam", _model.Manifest.Version), l.Model));

            Assert.Equal(invalid.Count, dead.Count);
            Assert.Equal(invalid.Select(i => i.Key).Order(), dead.Select(d => d.Message.Key).Order());
            var byKey = invalid.ToDictionary(i => i.Key);
            Assert.All(dead, d =>
            {
                Assert.Equal(byKey[d.Message.Key].Value, d.Message.Value ?? []);
                Assert.False(string.IsNullOrWhiteSpace(PipelineHarness.Header(d, Topics.ErrorHeader)));
            });

            // The labels are the model's, not noise: accuracy against the SMS ground truth.
            var truth = valid.ToDictionary(v => v.ExpectedId!, v => v.Truth);
            var accuracy = labels.Count(l => truth[l.Id] == l.Label) / (double)labels.Count;
            Assert.True(accuracy > 0.95, $"accuracy {accuracy:P1}");
        }
    }

    /// <summary>
    /// A broker outage loses nothing. The processor either rides it out or — when a client hits an unrecoverable
    /// error, such as the idempotent producer's sequence desynchronisation after a broker returns (librdkafka#3584) —
    /// stops with exit code 1, and a restart in the same group, as an orchestrator would do, answers the rest from
    /// the committed offsets. The test plays that orchestrator, at most twice, and names every restart in its output.
    /// </summary>
    [Fact]
    public async Task Processor_OneBrokerDownFor5s_NothingLost()
    {
        var topics = TestTopics.Create(_kafka);
        var inputs = InputCorpus.Mixed(2400, 0, "down");
        var group = "down-" + Guid.NewGuid().ToString("N");
        using var log = new CapturedLog();
        IHost? host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, group, log: log);
        var restarts = 0;
        try
        {
            // Broker 2 goes down 2 s into a 10 s stream and comes back 5 s later; the feed keeps going throughout.
            var outage = Task.Run(async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
                _kafka.Broker.SetBrokerDown(2);
                await Task.Delay(TimeSpan.FromSeconds(5));
                _kafka.Broker.SetBrokerUp(2);
            });
            var delivered = await Task.Run(() => PipelineHarness.ProducePaced(_kafka.BootstrapServers, topics.Messages, inputs, TimeSpan.FromSeconds(10)));
            await outage;
            Assert.Equal(inputs.Count, delivered);

            var ids = new HashSet<string>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                var service = host.Services.GetRequiredService<ProcessorService>();
                // A processor that stopped itself delivers nothing more: no point reading on for minutes.
                var outputs = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => service.ExitCode != 0 || r.Select(o => o.Message.Key).Distinct().Count() >= inputs.Count, TimeSpan.FromMinutes(3) - clock.Elapsed);
                ids.UnionWith(outputs.Select(o => o.Message.Key));
                if (service.ExitCode == 0 || restarts == 2 || clock.Elapsed > TimeSpan.FromMinutes(3))
                {
                    break;
                }

                restarts++;
                _output.WriteLine($"restart {restarts}: the processor stopped itself after {clock.Elapsed.TotalSeconds:F0} s; its log:{Environment.NewLine}{log.Tail(20)}");
                var stopped = host;
                host = null;
                await stopped.StopAsync();
                stopped.Dispose();
                host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, group, log: log);
            }

            var missing = inputs.Select(i => i.ExpectedId!).Where(id => !ids.Contains(id)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} inputs have no output after {restarts} restarts, e.g. {string.Join(", ", missing.Take(5))}; the processor's log:{Environment.NewLine}{log.Tail()}");
        }
        finally
        {
            if (host is not null)
            {
                await host.StopAsync();
                host.Dispose();
            }
        }
    }
}
