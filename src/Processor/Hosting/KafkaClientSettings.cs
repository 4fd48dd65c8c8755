using Confluent.Kafka;

namespace StreamBert.Processor.Hosting;

/// <summary>
/// Kafka client settings passed through as-is (<c>Kafka:Consumer</c>, <c>Kafka:Producer</c>: any
/// librdkafka property, e.g. <c>security.protocol</c>, <c>sasl.mechanism</c>), with the few settings the
/// delivery guarantees depend on forced on top.
/// </summary>
public sealed class KafkaClientSettings
{
    public Dictionary<string, string> Consumer { get; set; } = [];
    public Dictionary<string, string> Producer { get; set; } = [];

    public ConsumerConfig ConsumerConfig(ProcessorOptions options)
    {
        var config = new ConsumerConfig(new Dictionary<string, string>(Consumer))
        {
            BootstrapServers = Consumer.GetValueOrDefault("bootstrap.servers") ?? options.BootstrapServers,
            GroupId = Consumer.GetValueOrDefault("group.id") ?? options.GroupId,
            // At-least-once: only offsets whose outputs were acknowledged are stored; auto-commit commits stored ones.
            EnableAutoOffsetStore = false,
            EnableAutoCommit = true,
            AutoCommitIntervalMs = (int)options.CommitInterval.TotalMilliseconds,
        };
        config.AutoOffsetReset ??= AutoOffsetReset.Earliest;

        // The offset tracker forgets every partition on revocation, which is right only when a rebalance
        // revokes the whole assignment (eager protocols); incremental rebalancing would keep partitions whose
        // pending records it had forgotten.
        config.GroupProtocol = GroupProtocol.Classic;
        if (config.PartitionAssignmentStrategy == PartitionAssignmentStrategy.CooperativeSticky)
        {
            config.PartitionAssignmentStrategy = PartitionAssignmentStrategy.Range;
        }

        return config;
    }

    public ProducerConfig ProducerConfig(ProcessorOptions options)
    {
        var config = new ProducerConfig(new Dictionary<string, string>(Producer))
        {
            BootstrapServers = Producer.GetValueOrDefault("bootstrap.servers") ?? options.BootstrapServers,
            // Retries without duplicates or reordering; acks=all is implied by idempotence.
            EnableIdempotence = true,
            Acks = Acks.All,
        };
        config.LingerMs ??= 5;
        return config;
    }
}
