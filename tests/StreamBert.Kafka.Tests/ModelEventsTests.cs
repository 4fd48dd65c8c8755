using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using StreamBert.Contracts;

namespace StreamBert.Kafka.Tests;

public sealed class ModelEventsTests : IClassFixture<EmbeddedKafkaFixture>
{
    private readonly EmbeddedKafkaFixture _kafka;

    public ModelEventsTests(EmbeddedKafkaFixture kafka) => _kafka = kafka;

    private static ModelPublished Event(string version = "v7", string reason = "rollback") => new()
    {
        Name = "spam",
        Version = version,
        Path = "/registry/spam/" + version,
        Sha256 = new Dictionary<string, string> { ["spam.head"] = new string('a', 64) },
        ParentVersion = "v6",
        Reason = reason,
        PublishedAt = DateTimeOffset.UnixEpoch,
    };

    /// <summary>A valid event's JSON with one property replaced (path like "sha256.spam.head").</summary>
    private static byte[] With(string property, JsonNode? value)
    {
        var json = JsonSerializer.SerializeToNode(Event())!.AsObject();
        var parts = property.Split('.', 2);
        if (parts.Length == 2)
        {
            json[parts[0]]!.AsObject()[parts[1]] = value;
        }
        else
        {
            json[property] = value;
        }

        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    [Fact]
    public async Task PublishAsync_Event_IsKeyedByBundleAndRoundTrips()
    {
        var topic = _kafka.NewTopic("models", partitions: 1);
        var published = Event();

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

    [Theory]
    [InlineData("name")]
    [InlineData("version")]
    [InlineData("path")]
    [InlineData("sha256")]
    [InlineData("sha256.spam.head")]
    [InlineData("reason")]
    [InlineData("metrics")]
    [InlineData("labelOffsets")]
    public void Parse_NullInAField_ThrowsInvalidData(string property)
    {
        // `required` passes a JSON null: before these checks the event reached the updater and threw there.
        var value = With(property, null);

        var ex = Assert.Throws<InvalidDataException>(() => ModelEvents.Parse(value));

        Assert.NotEmpty(ex.Message);
    }

    public static TheoryData<string, string> IllFormed => new()
    {
        { "name", "\"../../etc\"" },
        { "name", "\"spam/v1\"" },
        { "name", "\"\"" },
        { "version", "\"latest\"" },
        { "version", "\"v1/../../x\"" },
        { "version", "\"v99999999999\"" },
        { "parentVersion", "\"x\"" },
        { "sha256", "{\"../v1/spam.head\":\"" + new string('a', 64) + "\"}" },
        { "sha256", "{\"/etc/passwd\":\"" + new string('a', 64) + "\"}" },
        { "sha256", "{\"spam.head\":\"abc\"}" },
        { "sha256", "{\"spam.head\":\"" + new string('g', 64) + "\"}" },
        { "sha256", "{}" },
        { "metrics", "{\"spam\":{\"f1\":1e400}}" },
        { "metrics", "{\"spam\":{\"f1\":\"high\"}}" },
        { "labelOffsets", "{\"labels.spam/0\":-1}" },
        { "reason", "\"Rollback; DROP\"" },
        { "publishedAt", "\"yesterday\"" },
    };

    [Theory]
    [MemberData(nameof(IllFormed))]
    public void Parse_IllFormedField_ThrowsInvalidData(string property, string json)
    {
        var value = With(property, JsonNode.Parse(json));

        Assert.Throws<InvalidDataException>(() => ModelEvents.Parse(value));
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("null")]
    [InlineData("[1,2,3]")]
    [InlineData("{\"name\":\"spam\"}")]
    public void Parse_NotAnEvent_ThrowsInvalidData(string json) =>
        Assert.Throws<InvalidDataException>(() => ModelEvents.Parse(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void Parse_LargerThanTheLimit_ThrowsInvalidData()
    {
        var value = With("path", new string('p', ModelEvents.MaxEventBytes));

        Assert.Throws<InvalidDataException>(() => ModelEvents.Parse(value));
    }

    [Fact]
    public async Task PublishThenMarkCurrentAsync_BrokerRefusesTheEvent_ThrowsAndNeverMarksCurrent()
    {
        var topic = _kafka.NewTopic("models", partitions: 1);
        var marked = new List<string>();
        _kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);
        try
        {
            await Assert.ThrowsAsync<ProduceException<string, byte[]>>(() =>
                ModelEvents.PublishThenMarkCurrentAsync(_kafka.ProducerConfig(), topic, Event(), (bundle, version) => marked.Add($"{bundle} {version}"), CancellationToken.None));
        }
        finally
        {
            _kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
        }

        Assert.Empty(marked);
    }

    [Fact]
    public async Task PublishThenMarkCurrentAsync_Acknowledged_MarksCurrentOnceTheEventIsOnTheTopic()
    {
        var topic = _kafka.NewTopic("models", partitions: 1);
        var config = _kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("models"));
        var onTopicWhenMarked = -1;

        await ModelEvents.PublishThenMarkCurrentAsync(_kafka.ProducerConfig(), topic, Event(), (_, _) =>
            onTopicWhenMarked = ModelEvents.ReadLatest(config, topic, TimeSpan.FromSeconds(20), CancellationToken.None).Latest.Count, CancellationToken.None);

        Assert.Equal(1, onTopicWhenMarked);
    }

    [Fact]
    public async Task ReadLatest_SeveralEventsPerBundle_LatestReadableOneWins()
    {
        var topic = _kafka.NewTopic("models", partitions: 2);
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), topic, Event("v3", "trained"), CancellationToken.None);
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), topic, Event("v2", "rollback"), CancellationToken.None);
        using (var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build())
        {
            // Unreadable, and an event filed under another bundle's key: neither may replace spam's latest.
            await producer.ProduceAsync(topic, new Message<string, byte[]> { Key = "spam", Value = "{oops"u8.ToArray() });
            await producer.ProduceAsync(topic, new Message<string, byte[]> { Key = "other", Value = JsonSerializer.SerializeToUtf8Bytes(Event("v9", "trained")) });
        }

        var read = ModelEvents.ReadLatest(_kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("models")), topic, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.True(read.TopicExists);
        Assert.Equal("v2", Assert.Single(read.Latest).Value.Version);
        Assert.Equal(2, read.Unreadable);
    }
}
