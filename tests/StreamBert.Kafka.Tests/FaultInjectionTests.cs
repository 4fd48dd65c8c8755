using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;

namespace StreamBert.Kafka.Tests;

public sealed class FaultInjectionTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task IdempotentProducer_OneOfThreeBrokersDownForFiveSeconds_NothingLostOrDuplicated()
    {
        const int perPhase = 1_000;
        const int downBroker = 2;
        var topic = kafka.NewTopic("outage", partitions: 3);
        using var producer = new ProducerBuilder<string, int>(kafka.ProducerConfig())
            .SetValueSerializer(Int32Serde.Instance)
            .Build();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(50));
        var delivered = new ConcurrentDictionary<int, TopicPartitionOffset>();
        var deliveredAt = new ConcurrentDictionary<int, TimeSpan>();
        var failed = new ConcurrentQueue<Error>();
        var next = 0;

        void ProduceBatch(int size)
        {
            for (var end = next + size; next < end; next++)
            {
                var sequence = next;
                producer.Produce(topic, new Message<string, int> { Key = $"key-{sequence % 50}", Value = sequence }, report =>
                {
                    if (report.Error.IsError)
                    {
                        failed.Enqueue(report.Error);
                    }
                    else
                    {
                        delivered[sequence] = report.TopicPartitionOffset;
                        deliveredAt[sequence] = clock.Elapsed;
                    }
                });
            }
        }

        // Keyed by log position, so a redelivery after a rebalance (at-least-once consumption) is
        // not mistaken for a duplicate in the log.
        var consumed = new ConcurrentDictionary<TopicPartitionOffset, int>();
        var consuming = Task.Factory.StartNew(
            () =>
            {
                using var consumer = new ConsumerBuilder<string, int>(kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("outage")))
                    .SetValueDeserializer(Int32Serde.Instance)
                    .Build();
                consumer.Subscribe(topic);
                while (!stop.IsCancellationRequested && consumed.Count < 3 * perPhase)
                {
                    if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { } result)
                    {
                        consumed[result.TopicPartitionOffset] = result.Message.Value;
                    }
                }

                // The log's length, to catch a second copy the loop above stopped short of.
                var logLength = Enumerable.Range(0, 3).Sum(partition =>
                    consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition), Patience).High.Value);
                consumer.Close();
                return logLength;
            },
            TaskCreationOptions.LongRunning);

        ProduceBatch(perPhase);
        Assert.True(await Await.UntilAsync(() => consumed.Count == perPhase, Patience), "the consumer never caught up before the outage");

        var leaderDownFor = TimeSpan.FromSeconds(5);
        var outage = Enumerable.Range(next, perPhase);
        TimeSpan brokerUpAt;
        kafka.Broker.SetBrokerDown(downBroker);
        try
        {
            // Keep producing through the whole outage: ten batches, half a second apart.
            for (var batch = 0; batch < 10; batch++)
            {
                ProduceBatch(perPhase / 10);
                await Task.Delay(leaderDownFor / 10);
            }
        }
        finally
        {
            kafka.Broker.SetBrokerUp(downBroker);
            brokerUpAt = clock.Elapsed;
        }

        ProduceBatch(perPhase);
        Assert.Equal(0, producer.Flush(Patience));
        Assert.True(await Await.UntilAsync(() => consumed.Count >= 3 * perPhase || consuming.IsCompleted, Patience));
        await stop.CancelAsync();
        var logLength = await consuming;

        Assert.Empty(failed);
        Assert.Equal(3 * perPhase, delivered.Count);
        Assert.Equal(3 * perPhase, consumed.Count);
        Assert.Equal(3 * perPhase, logLength);
        // Every message sits at exactly the log position its delivery report named: none lost, none written twice.
        Assert.Equal(
            delivered.Select(d => (d.Value.Partition.Value, d.Value.Offset.Value, Sequence: d.Key)).Order(),
            consumed.Select(c => (c.Key.Partition.Value, c.Key.Offset.Value, Sequence: c.Value)).Order());
        // The outage was real: messages for the partition the downed broker leads were held back
        // until it came up again (the mock elects no other leader).
        Assert.Contains(outage, sequence => deliveredAt[sequence] >= brokerUpAt);
    }

    [Fact]
    public void IdempotentProducer_InjectedRetriableProduceErrors_RetriesWithoutLossOrDuplicates()
    {
        const int count = 1_000;
        var topic = kafka.NewTopic("produce-errors", partitions: 3);
        ErrorCode[] injected =
        [
            ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas,
            ErrorCode.LeaderNotAvailable, ErrorCode.NotEnoughReplicasAfterAppend,
        ];
        long transmitted = 0;
        var config = kafka.ProducerConfig();
        config.StatisticsIntervalMs = 100;
        var failed = new ConcurrentQueue<Error>();

        kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, injected);
        try
        {
            using var producer = new ProducerBuilder<Null, int>(config)
                .SetValueSerializer(Int32Serde.Instance)
                .SetStatisticsHandler((_, json) => Interlocked.Exchange(ref transmitted, TransmittedMessages(json)))
                .Build();
            for (var i = 0; i < count; i++)
            {
                producer.Produce(new TopicPartition(topic, i % 3), new Message<Null, int> { Value = i }, report =>
                {
                    if (report.Error.IsError)
                    {
                        failed.Enqueue(report.Error);
                    }
                });
            }

            Assert.Equal(0, producer.Flush(Patience));

            // Statistics arrive on the producer's poll; keep polling until the resends are reported.
            var clock = Stopwatch.StartNew();
            while (Interlocked.Read(ref transmitted) <= count && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                producer.Poll(TimeSpan.FromMilliseconds(50));
            }
        }
        finally
        {
            kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
        }

        Assert.Empty(failed);
        // librdkafka retries produce per message: a failed request's messages are sent again.
        Assert.True(Interlocked.Read(ref transmitted) > count, $"expected resends, but only {transmitted} messages were transmitted");

        using var consumer = new ConsumerBuilder<Ignore, int>(kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("produce-errors")))
            .SetValueDeserializer(Int32Serde.Instance)
            .Build();
        consumer.Subscribe(topic);
        var received = Await.Consume(consumer, count, Patience);
        var logLength = Enumerable.Range(0, 3).Sum(partition =>
            consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition), Patience).High.Value);
        consumer.Close();

        Assert.Equal(count, received.Count);
        Assert.Equal(count, logLength);
        foreach (var partition in received.GroupBy(r => r.Partition.Value))
        {
            // Each partition holds its share exactly once, in send order.
            var expected = Enumerable.Range(0, count).Where(i => i % 3 == partition.Key);
            Assert.Equal(expected, partition.OrderBy(r => r.Offset.Value).Select(r => r.Message.Value));
        }
    }

    [Fact]
    public async Task SetRtt_AllBrokers_DelaysEveryAcknowledgementUntilReset()
    {
        var rtt = TimeSpan.FromMilliseconds(400);
        var topic = kafka.NewTopic("rtt", partitions: 1);
        using var producer = new ProducerBuilder<Null, int>(kafka.ProducerConfig()).SetValueSerializer(Int32Serde.Instance).Build();
        await producer.ProduceAsync(topic, new Message<Null, int> { Value = 0 }); // connects and fetches metadata

        TimeSpan delayed;
        kafka.Broker.SetRtt(-1, rtt);
        try
        {
            var clock = Stopwatch.StartNew();
            await producer.ProduceAsync(topic, new Message<Null, int> { Value = 1 });
            delayed = clock.Elapsed;
        }
        finally
        {
            kafka.Broker.SetRtt(-1, TimeSpan.Zero);
        }

        var reset = Stopwatch.StartNew();
        await producer.ProduceAsync(topic, new Message<Null, int> { Value = 2 });

        Assert.InRange(delayed, rtt, rtt * 5);
        Assert.True(reset.Elapsed < rtt, $"after the reset a produce still took {reset.Elapsed}");
    }

    private static long TransmittedMessages(string statisticsJson)
    {
        using var statistics = JsonDocument.Parse(statisticsJson);
        return statistics.RootElement.GetProperty("txmsgs").GetInt64();
    }
}
