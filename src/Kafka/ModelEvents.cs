using System.Text.Json;
using Confluent.Kafka;
using StreamBert.Contracts;

namespace StreamBert.Kafka;

/// <summary>Publishes <see cref="ModelPublished"/> events on the compacted models topic, keyed by bundle name.</summary>
public static class ModelEvents
{
    /// <summary>Produces the event and waits for the broker's acknowledgement (idempotent producer, acks=all).</summary>
    public static async Task<TopicPartitionOffset> PublishAsync(ProducerConfig config, string topic, ModelPublished published, CancellationToken cancellationToken)
    {
        using var producer = new ProducerBuilder<string, byte[]>(config).Build();
        var result = await producer.ProduceAsync(
            topic,
            new Message<string, byte[]> { Key = published.Name, Value = JsonSerializer.SerializeToUtf8Bytes(published) },
            cancellationToken).ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    public static ModelPublished Parse(byte[] value) =>
        JsonSerializer.Deserialize<ModelPublished>(value) ?? throw new InvalidDataException("A models event is JSON null.");
}
