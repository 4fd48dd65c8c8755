using Confluent.Kafka;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Hosting;

/// <summary>The processor's delivery policy on top of the shared Kafka client settings.</summary>
public static class ProcessorKafkaSettings
{
    public static ConsumerConfig ConsumerConfig(this KafkaClientSettings kafka, ProcessorOptions options)
    {
        var config = kafka.ConsumerConfig(options.BootstrapServers, options.GroupId);

        // At-least-once: only offsets whose outputs were acknowledged are stored; auto-commit commits stored ones.
        config.EnableAutoOffsetStore = false;
        config.EnableAutoCommit = true;
        config.AutoCommitIntervalMs = (int)options.CommitInterval.TotalMilliseconds;
        return config;
    }

    public static ProducerConfig ProducerConfig(this KafkaClientSettings kafka, ProcessorOptions options) =>
        kafka.ProducerConfig(options.BootstrapServers);
}
