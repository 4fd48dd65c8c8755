using System.Text;
using Confluent.Kafka;

namespace StreamBert.Kafka.Tests;

public sealed class EmbeddedBrokerTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public void ProduceConsume_TenThousandKeyedMessagesWithHeaders_RoundTripExactly()
    {
        const int count = 10_000;
        var topic = kafka.NewTopic("roundtrip");
        var sent = new Message<string, byte[]>[count];
        var failures = 0;

        using (var producer = new ProducerBuilder<string, byte[]>(kafka.ProducerConfig()).Build())
        {
            for (var i = 0; i < count; i++)
            {
                sent[i] = new Message<string, byte[]>
                {
                    Key = $"key-{i}",
                    // Binary values, including zero bytes and a varying length.
                    Value = [.. Encoding.UTF8.GetBytes($"value-{i}-ü"), 0, (byte)(i % 256), .. new byte[i % 17]],
                    Headers = new Headers
                    {
                        { "seq", BitConverter.GetBytes(i) },
                        { "trace", Encoding.UTF8.GetBytes($"00-{i:x32}-01") },
                        { "empty", [] },
                    },
                };
                producer.Produce(topic, sent[i], report =>
                {
                    if (report.Error.IsError)
                    {
                        Interlocked.Increment(ref failures);
                    }
                });
            }

            Assert.Equal(0, producer.Flush(Patience));
        }

        Assert.Equal(0, failures);

        using var consumer = new ConsumerBuilder<string, byte[]>(kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("roundtrip"))).Build();
        consumer.Subscribe(topic);
        var received = Await.Consume(consumer, count, Patience);
        consumer.Close();

        Assert.Equal(count, received.Count);
        Assert.Equal(count, received.Select(r => r.Message.Key).Distinct().Count());
        foreach (var result in received)
        {
            var i = BitConverter.ToInt32(result.Message.Headers.GetLastBytes("seq"));
            var expected = sent[i];
            Assert.Equal(expected.Key, result.Message.Key);
            Assert.Equal(expected.Value, result.Message.Value);
            Assert.Equal(
                expected.Headers.Select(h => (h.Key, h.GetValueBytes())),
                result.Message.Headers.Select(h => (h.Key, h.GetValueBytes())));
        }

        // Within a partition the log keeps the send order.
        foreach (var partition in received.GroupBy(r => r.Partition.Value))
        {
            var sequence = partition.OrderBy(r => r.Offset.Value).Select(r => BitConverter.ToInt32(r.Message.Headers.GetLastBytes("seq"))).ToList();
            Assert.Equal(sequence.Order(), sequence);
        }
    }

    [Fact]
    public void ConsumerGroup_RestartAfterCommit_ResumesAtCommittedOffset()
    {
        const int count = 100;
        const int consumedBeforeRestart = 40;
        var topic = kafka.NewTopic("resume");
        var groupId = EmbeddedKafkaFixture.NewGroupId("resume");
        using (var producer = new ProducerBuilder<Null, int>(kafka.ProducerConfig()).SetValueSerializer(Int32Serde.Instance).Build())
        {
            for (var i = 0; i < count; i++)
            {
                producer.Produce(new TopicPartition(topic, i % 3), new Message<Null, int> { Value = i });
            }

            Assert.Equal(0, producer.Flush(Patience));
        }

        var config = kafka.ConsumerConfig(groupId);
        config.EnableAutoCommit = false;

        List<ConsumeResult<Ignore, int>> beforeRestart;
        List<TopicPartitionOffset> committed;
        using (var first = new ConsumerBuilder<Ignore, int>(config).SetValueDeserializer(Int32Serde.Instance).Build())
        {
            first.Subscribe(topic);
            beforeRestart = Await.Consume(first, consumedBeforeRestart, Patience);
            committed = first.Commit();
            first.Close();
        }

        List<ConsumeResult<Ignore, int>> afterRestart;
        using (var second = new ConsumerBuilder<Ignore, int>(config).SetValueDeserializer(Int32Serde.Instance).Build())
        {
            second.Subscribe(topic);
            afterRestart = Await.Consume(second, count - consumedBeforeRestart, Patience);
            second.Close();
        }

        Assert.Equal(consumedBeforeRestart, beforeRestart.Count);
        Assert.Equal(count - consumedBeforeRestart, afterRestart.Count);
        Assert.Equal(Enumerable.Range(0, count), beforeRestart.Concat(afterRestart).Select(r => r.Message.Value).Order());
        // Commit() reports every assigned partition; one the first consumer read nothing from has
        // no committed offset, and the restarted group starts it at the earliest offset.
        Assert.Contains(committed, c => c.Offset.Value > 0);
        foreach (var offset in committed)
        {
            var expectedStart = offset.Offset == Offset.Unset ? 0 : offset.Offset.Value;
            var partitionSize = Enumerable.Range(0, count).Count(i => i % 3 == offset.Partition.Value);
            Assert.Equal(
                Enumerable.Range((int)expectedStart, partitionSize - (int)expectedStart).Select(o => (long)o),
                afterRestart.Where(r => r.Partition == offset.Partition).Select(r => r.Offset.Value));
        }
    }

    [Fact]
    public void CreateTopic_ExistingName_ThrowsTopicAlreadyExists()
    {
        var topic = kafka.NewTopic("duplicate");

        var error = Assert.Throws<KafkaException>(() => kafka.Broker.CreateTopic(topic, 1));

        Assert.Equal(ErrorCode.TopicAlreadyExists, error.Error.Code);
    }

    [Fact]
    public void CreateTopic_GivenPartitions_ClientsSeeThemWithLeadersSpreadOverBrokers()
    {
        var topic = kafka.NewTopic("metadata", partitions: 6);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();

        var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single();

        Assert.Equal(ErrorCode.NoError, metadata.Error.Code);
        Assert.Equal(6, metadata.Partitions.Count);
        Assert.Equal([1, 2, 3], metadata.Partitions.Select(p => p.Leader).Distinct().Order());
    }

    [Fact]
    public void SetPartitionLeader_OtherBroker_ClientsSeeTheNewLeader()
    {
        var topic = kafka.NewTopic("leader", partitions: 1);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        var before = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Single().Leader;
        var target = before % kafka.Broker.BrokerCount + 1;

        kafka.Broker.SetPartitionLeader(topic, 0, target);

        var after = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Single().Leader;
        Assert.NotEqual(before, target);
        Assert.Equal(target, after);
    }

    [Fact]
    public void Start_ManyClustersConcurrently_EachServesOnlyItsOwnTopics()
    {
        var brokers = new EmbeddedBroker[4];
        try
        {
            Parallel.For(0, brokers.Length, i =>
            {
                brokers[i] = EmbeddedBroker.Start(brokers: 1);
                brokers[i].CreateTopic($"only-on-{i}", partitions: 1);
            });

            Assert.Equal(brokers.Length, brokers.Select(b => b.BootstrapServers).Distinct().Count());
            for (var i = 0; i < brokers.Length; i++)
            {
                using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = brokers[i].BootstrapServers }).Build();
                var topics = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic);
                Assert.Equal([$"only-on-{i}"], topics);
            }
        }
        finally
        {
            foreach (var broker in brokers)
            {
                broker?.Dispose();
            }
        }
    }

    [Fact]
    public void Dispose_ThenUse_ThrowsObjectDisposed()
    {
        var broker = EmbeddedBroker.Start(brokers: 1);
        broker.Dispose();
        broker.Dispose();

        Assert.Throws<ObjectDisposedException>(() => broker.CreateTopic("after-dispose", 1));
    }
}
