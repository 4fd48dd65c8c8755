using Confluent.Kafka;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Hosting;

/// <summary>The processor's delivery policy on top of the shared Kafka client settings.</summary>
public static class ProcessorKafkaSettings
{
    public static ConsumerConfig ConsumerConfig(this KafkaClientSettings kafka, ProcessorOptions options)
    {
        var config = kafka.ConsumerConfig(options.BootstrapServers, options.GroupId);

        config.EnableAutoOffsetStore = false;
        if (options.Delivery == DeliveryGuarantee.ExactlyOnce)
        {
            // Offsets are committed only inside the producer's transactions (SendOffsetsToTransaction); a consumer
            // commit would move them ahead of a transaction that may still abort. read_committed: the processor's
            // own inputs may be outputs of another transactional pipeline, whose aborted records must not be labelled.
            config.EnableAutoCommit = false;
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            return config;
        }

        // At-least-once: only offsets whose outputs were acknowledged are stored; auto-commit commits stored ones.
        config.EnableAutoCommit = true;
        config.AutoCommitIntervalMs = (int)options.CommitInterval.TotalMilliseconds;
        return config;
    }

    public static ProducerConfig ProducerConfig(this KafkaClientSettings kafka, ProcessorOptions options)
    {
        var config = kafka.ProducerConfig(options.BootstrapServers);
        if (options.Delivery == DeliveryGuarantee.ExactlyOnce)
        {
            config.TransactionalId = options.EffectiveTransactionalId;
        }

        return config;
    }
}
