using Confluent.Kafka;

namespace StreamBert.Kafka;

/// <summary>
/// Client settings tuned for the <see cref="EmbeddedBroker"/> in tests and the local demo. Each
/// call returns a new config the caller may change further. Not for production: the short
/// timeouts trade resilience to slow networks for fast failure detection on loopback.
/// </summary>
public static class KafkaDefaults
{
    /// <summary>
    /// A consumer that joins groups quickly and starts new groups at the earliest offset.
    /// Offset commit settings are left at Confluent.Kafka's defaults for the caller to choose.
    /// </summary>
    public static ConsumerConfig Consumer(string bootstrapServers, string groupId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(groupId);
        var config = new ConsumerConfig
        {
            GroupId = groupId,

            // The mock completes a group membership change only after session.timeout.ms - 1000 ms
            // (real Kafka: when all members rejoined). 3 s keeps that wait at 2 s instead of 44 s;
            // the heartbeat must stay well below the session timeout.
            SessionTimeoutMs = 3000,
            HeartbeatIntervalMs = 300,

            // Tests produce before they consume; a new group must see those messages.
            AutoOffsetReset = AutoOffsetReset.Earliest,

            // An empty partition otherwise holds a fetch for 500 ms and an error backs off 500 ms:
            // both show up directly as test latency.
            FetchWaitMaxMs = 100,
            FetchErrorBackoffMs = 100,
        };
        return WithFastReconnect(config, bootstrapServers);
    }

    /// <summary>
    /// An idempotent producer with <c>acks=all</c>: retries after broker failures neither lose
    /// nor duplicate nor reorder messages. Gives up on a message after 30 s, so a broken test
    /// fails within its own time budget instead of the 5 min default.
    /// </summary>
    public static ProducerConfig Producer(string bootstrapServers)
    {
        var config = new ProducerConfig
        {
            EnableIdempotence = true,
            Acks = Acks.All,
            MessageTimeoutMs = 30_000,
        };
        return WithFastReconnect(config, bootstrapServers);
    }

    private static T WithFastReconnect<T>(T config, string bootstrapServers)
        where T : ClientConfig
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bootstrapServers);
        config.BootstrapServers = bootstrapServers;

        // A broker the test brought back up is reconnected within half a second; librdkafka's
        // default backoff grows to 10 s, which would dominate every fault-injection test.
        config.ReconnectBackoffMs = 50;
        config.ReconnectBackoffMaxMs = 500;
        return config;
    }
}
