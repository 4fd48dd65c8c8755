using Confluent.Kafka;

namespace StreamBert.Service.Hosting;

/// <summary>
/// Kafka client settings passed through as-is (<c>Kafka:Consumer</c>, <c>Kafka:Producer</c>: any
/// librdkafka property, e.g. <c>security.protocol</c>, <c>sasl.mechanism</c>), with the few settings the
/// delivery guarantees depend on forced on top, and the client queues bounded in bytes by default (each
/// default applies only where the key is not configured).
/// </summary>
public sealed class KafkaClientSettings
{
    /// <summary>Consumer prefetch default (<c>queued.max.messages.kbytes</c>): 16 MiB.</summary>
    public const int DefaultQueuedMaxKbytes = 16 * 1024;

    /// <summary>Consumer fetch size default (<c>fetch.max.bytes</c>): 8 MiB, raised to <c>message.max.bytes</c> when that is larger.</summary>
    public const int DefaultFetchMaxBytes = 8 * 1024 * 1024;

    /// <summary>Producer queue default (<c>queue.buffering.max.kbytes</c>): 32 MiB.</summary>
    public const int DefaultQueueBufferingMaxKbytes = 32 * 1024;

    public Dictionary<string, string> Consumer { get; set; } = [];
    public Dictionary<string, string> Producer { get; set; } = [];

    /// <summary>
    /// The configured consumer settings with <paramref name="bootstrapServers"/> and <paramref name="groupId"/> where they
    /// are not configured, the prefetch bounded in bytes and the classic (eager) group protocol. Each service adds its
    /// own commit policy on top.
    /// </summary>
    public ConsumerConfig ConsumerConfig(string bootstrapServers, string groupId)
    {
        var config = new ConsumerConfig(new Dictionary<string, string>(Consumer))
        {
            BootstrapServers = Consumer.GetValueOrDefault("bootstrap.servers") ?? bootstrapServers,
            GroupId = Consumer.GetValueOrDefault("group.id") ?? groupId,
        };
        config.AutoOffsetReset ??= AutoOffsetReset.Earliest;

        // Prefetch bounded in bytes unless configured: librdkafka's defaults (64 MiB queued, 50 MiB per fetch) would
        // hold tens of seconds of records in the client where consumer lag does not show them as waiting.
        config.QueuedMaxMessagesKbytes ??= DefaultQueuedMaxKbytes;
        config.FetchMaxBytes ??= Math.Max(DefaultFetchMaxBytes, config.MessageMaxBytes ?? 0);

        // Offset bookkeeping in both services forgets every partition on revocation, which is right only when a
        // rebalance revokes the whole assignment (eager protocols); incremental rebalancing would keep partitions
        // whose pending records were forgotten.
        config.GroupProtocol = GroupProtocol.Classic;
        if (config.PartitionAssignmentStrategy == PartitionAssignmentStrategy.CooperativeSticky)
        {
            config.PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range;
        }

        return config;
    }

    /// <summary>The configured producer settings, idempotent with <c>acks=all</c>, its queue bounded in bytes.</summary>
    public ProducerConfig ProducerConfig(string bootstrapServers)
    {
        var config = new ProducerConfig(new Dictionary<string, string>(Producer))
        {
            BootstrapServers = Producer.GetValueOrDefault("bootstrap.servers") ?? bootstrapServers,
            // Retries without duplicates or reordering; acks=all is implied by idempotence.
            EnableIdempotence = true,
            Acks = Acks.All,
        };
        config.LingerMs ??= 5;

        // Outputs waiting for acknowledgement bounded in bytes unless configured (librdkafka's default is 1 GiB);
        // a full queue makes egress wait, which fills the in-flight budget, which pauses ingest.
        config.QueueBufferingMaxKbytes ??= DefaultQueueBufferingMaxKbytes;
        return config;
    }
}
