using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Hosting;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// A stage that fails after the engine (postprocess, egress) must stop the host, not leave the stages before it
/// blocked on full channels for ever: the operator's report was a processor alive at 0 % CPU, /healthz ok, that
/// never exited. Faults come from <c>Processor:Chaos</c>, so the test does not depend on which inputs egress
/// treats as fatal.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class FailFastTests : IClassFixture<EmbeddedKafkaFixture>
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly SpamModelFixture _model;

    public FailFastTests(EmbeddedKafkaFixture kafka, SpamModelFixture model)
    {
        _kafka = kafka;
        _model = model;
    }

    [Theory]
    [InlineData("postprocess")]
    [InlineData("egress")]
    public async Task Processor_StageFaultsMidStream_HostStopsWithNonZeroExitCodeAndCommitsOnlyAnsweredInputs(string stage)
    {
        var bootstrap = _kafka.BootstrapServers;
        var topics = TestTopics.Create(_kafka, 3);
        var group = EmbeddedKafkaFixture.NewGroupId("fail-" + stage);
        var host = PipelineHarness.StartProcessor(topics, bootstrap, _model.Registry, group, new Dictionary<string, string?>
        {
            ["Processor:Chaos:FaultStage"] = stage,
            ["Processor:Chaos:FaultAfter"] = "100",
            // Small channels fill at once behind the failed stage: the hang the old supervision had.
            ["Processor:ChannelCapacity"] = "8",
        });
        try
        {
            var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
            using var registration = lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
            PipelineHarness.Produce(bootstrap, topics.Messages, InputCorpus.Mixed(1500, 15, "ff-" + stage));

            var clock = Stopwatch.StartNew();
            var stopped = await Task.WhenAny(stopping.Task, Task.Delay(TimeSpan.FromSeconds(45)));
            Assert.True(stopped == stopping.Task, $"the host did not stop within 45 s of a failing {stage} stage");
            var service = host.Services.GetRequiredService<ProcessorService>();
            Assert.Equal(1, service.ExitCode);

            // Shutdown is bounded: the stages before the failed one are cancelled, not left waiting on full channels.
            await host.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(15));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60));

            // Only answered inputs are committed: one output per input (label or dead letter), so the committed
            // offsets can never add up to more than the outputs on the topics; and answered work was committed.
            var probeConfig = Kafka.KafkaDefaults.Consumer(bootstrap, group);
            probeConfig.EnableAutoCommit = false;
            using var probe = new ConsumerBuilder<Ignore, Ignore>(probeConfig).Build();
            long Sum(string topic) => Enumerable.Range(0, 3).Sum(p => probe.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
            var committed = probe.Committed(Enumerable.Range(0, 3).Select(p => new TopicPartition(topics.Messages, p)), TimeSpan.FromSeconds(10)).Sum(c => Math.Max(0, c.Offset.Value));
            var outputs = Sum(topics.MessagesSpam) + Sum(topics.MessagesDlq);
            Assert.True(committed <= outputs, $"committed {committed} inputs, {outputs} outputs");
            Assert.True(committed > 0, $"nothing committed although {outputs} outputs were acknowledged");
            Assert.True(outputs < 1500, "every input was answered before the fault: nothing was mid-stream");
        }
        finally
        {
            // The service sets the process's exit code, as it must in a real process; the test process must not keep it.
            Environment.ExitCode = 0;
            host.Dispose();
        }
    }
}
