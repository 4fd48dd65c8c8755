using Confluent.Kafka;
using StreamBert.Contracts;

namespace StreamBert.Kafka.Tests;

public sealed class ModelEventsTests : IClassFixture<EmbeddedKafkaFixture>
{
    private readonly EmbeddedKafkaFixture _kafka;

    public ModelEventsTests(EmbeddedKafkaFixture kafka) => _kafka = kafka;

    [Fact]
    public async Task PublishAsync_Event_IsKeyedByBundleAndRoundTrips()
    {
        var topic = _kafka.NewTopic("models", partitions: 1);
        var published = new ModelPublished
        {
            Name = "spam",
            Version = "v7",
            Path = "/registry/spam/v7",
            Sha256 = new Dictionary<string, string> { ["spam.head"] = new string('a', 64) },
            ParentVersion = "v6",
            Reason = "rollback",
            PublishedAt = DateTimeOffset.UnixEpoch,
        };

        var position = await ModelEvents.PublishAsync(_kafka.ProducerConfig(), topic, published, CancellationToken.None);

        using var consumer = new ConsumerBuilder<string, byte[]>(_kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("models"))).Build();
        consumer.Assign(position);
        var record = consumer.Consume(TimeSpan.FromSeconds(10));
        Assert.NotNull(record);
        Assert.Equal("spam", record.Message.Key);
        var read = ModelEvents.Parse(record.Message.Value);
        Assert.Equal(published.Version, read.Version);
        Assert.Equal(published.Sha256, read.Sha256);
        Assert.Equal(published.Reason, read.Reason);
        Assert.Equal(published.ParentVersion, read.ParentVersion);
    }
}
