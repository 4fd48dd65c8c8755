using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Service.Hosting;

namespace StreamBert.Review.Spam;

/// <summary>Writes a reviewer's spam verdict to <c>labels.spam</c>, in the shape the training service reads.</summary>
public sealed class SpamLabelWriter : IDisposable
{
    private readonly IProducer<string, byte[]> _producer;
    private readonly string _topic;

    public SpamLabelWriter(IOptions<ReviewOptions> options, IOptions<KafkaClientSettings> kafka)
    {
        var config = kafka.Value.ProducerConfig(options.Value.BootstrapServers);

        // A reviewer waits on the click: an unreachable cluster fails it in 30 s rather than librdkafka's 5 minutes.
        config.MessageTimeoutMs ??= 30_000;
        _producer = new ProducerBuilder<string, byte[]>(config).Build();
        _topic = options.Value.LabelsSpamTopic;
    }

    /// <summary>
    /// Produces the label and waits for the broker's acknowledgement, so the item leaves the queue only once the label
    /// is durable. Keyed by the message id; headers say who labelled and which model version the label is about.
    /// </summary>
    public async Task WriteAsync(SpamItem item, string label, string reviewer, CancellationToken ct)
    {
        var message = new Message<string, byte[]>
        {
            Key = item.Id,
            Value = JsonSerializer.SerializeToUtf8Bytes(new TextLabel(item.ModelText, label)),
            Headers = new Headers
            {
                { LabelHeaders.Reviewer, Encoding.UTF8.GetBytes(reviewer) },
                { LabelHeaders.ModelVersion, Encoding.UTF8.GetBytes(item.ModelVersion) },
            },
        };
        await _producer.ProduceAsync(_topic, message, ct).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}
