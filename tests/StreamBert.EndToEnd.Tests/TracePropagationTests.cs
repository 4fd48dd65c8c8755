using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;

namespace StreamBert.EndToEnd.Tests;

/// <summary>W3C trace context: a producer's trace continues through the processor into the labels as a new hop.</summary>
[Collection(SpamModelCollection.Name)]
public sealed class TracePropagationTests : IClassFixture<EmbeddedKafkaFixture>
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly SpamModelFixture _model;

    public TracePropagationTests(EmbeddedKafkaFixture kafka, SpamModelFixture model)
    {
        _kafka = kafka;
        _model = model;
    }

    [Fact]
    public async Task Outputs_CarryTheInputsTraceIdWithANewSpanId()
    {
        var topics = TestTopics.Create(_kafka, partitions: 1);
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const string parentSpan = "00f067aa0ba902b7";
        using (var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build())
        {
            for (var i = 0; i < 10; i++)
            {
                var headers = i % 2 == 0 ? new Headers { { "traceparent", Encoding.ASCII.GetBytes($"00-{traceId}-{parentSpan}-01") } } : [];
                producer.Produce(topics.Messages, new Message<string, byte[]> { Key = $"t-{i}", Value = JsonSerializer.SerializeToUtf8Bytes(new MessageInput($"t-{i}", "Free entry to win a prize, text WIN now")), Headers = headers });
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        using var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _model.Registry, "trace-" + Guid.NewGuid().ToString("N"));
        var outputs = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= 10, TimeSpan.FromMinutes(2));
        await host.StopAsync();

        Assert.Equal(10, outputs.Count);
        foreach (var output in outputs)
        {
            var traced = int.Parse(output.Message.Key[2..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 0;
            var header = PipelineHarness.Header(output, "traceparent");
            if (!traced)
            {
                Assert.Equal("", header);
                continue;
            }

            var parts = header.Split('-');
            Assert.Equal(["00", traceId], parts[..2]);
            Assert.Matches("^[0-9a-f]{16}$", parts[2]);
            Assert.NotEqual(parentSpan, parts[2]);
            Assert.Equal("01", parts[3]);
        }
    }
}
