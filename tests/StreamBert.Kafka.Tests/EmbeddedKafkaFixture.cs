using Confluent.Kafka;

namespace StreamBert.Kafka.Tests;

/// <summary>
/// One <see cref="EmbeddedBroker"/> (3 brokers) per test class: use it as
/// <c>IClassFixture&lt;EmbeddedKafkaFixture&gt;</c>. Test classes run in parallel, each on its own
/// cluster; tests within a class share the cluster, so each takes fresh topics and group ids
/// (<see cref="NewTopic"/>, <see cref="NewGroupId"/>) and undoes the faults it injects.
/// </summary>
public sealed class EmbeddedKafkaFixture : IDisposable
{
    /// <summary>The cluster of this test class.</summary>
    public EmbeddedBroker Broker { get; } = EmbeddedBroker.Start(brokers: 3);

    /// <summary>Shorthand for <see cref="EmbeddedBroker.BootstrapServers"/>.</summary>
    public string BootstrapServers => Broker.BootstrapServers;

    /// <summary>Creates a topic named <c>{prefix}-{guid}</c> and returns its name.</summary>
    public string NewTopic(string prefix, int partitions = 3)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}";
        Broker.CreateTopic(name, partitions);
        return name;
    }

    /// <summary>A consumer group id no other test uses: <c>{prefix}-{guid}</c>.</summary>
    public static string NewGroupId(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary><see cref="KafkaDefaults.Consumer"/> for this cluster.</summary>
    public ConsumerConfig ConsumerConfig(string groupId) => KafkaDefaults.Consumer(BootstrapServers, groupId);

    /// <summary><see cref="KafkaDefaults.Producer"/> for this cluster.</summary>
    public ProducerConfig ProducerConfig() => KafkaDefaults.Producer(BootstrapServers);

    /// <inheritdoc />
    public void Dispose() => Broker.Dispose();
}
