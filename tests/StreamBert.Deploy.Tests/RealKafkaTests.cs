using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using StreamBert.Kafka;
using StreamBert.Processor.Tests.ExactlyOnce;
using Testcontainers.Kafka;
using Xunit.Abstractions;

namespace StreamBert.Deploy.Tests;

/// <summary>
/// The client settings every StreamBert test and the demo use (<see cref="KafkaDefaults"/>), against
/// real Apache Kafka — the image docker-compose.yml runs — rather than librdkafka's mock cluster.
/// Needs a Docker engine; skipped with the reason where none answers.
/// </summary>
public sealed class RealKafkaTests
{
    private readonly ITestOutputHelper _output;

    public RealKafkaTests(ITestOutputHelper output) => _output = output;

    [DockerFact]
    public async Task KafkaDefaults_ProduceConsumeCommitAndResume_RoundTripThroughApacheKafka()
    {
        await using var kafka = new KafkaBuilder(DeployFiles.KafkaImage).Build();
        await kafka.StartAsync();
        var bootstrap = kafka.GetBootstrapAddress();
        _output.WriteLine($"{DeployFiles.KafkaImage} at {bootstrap}");

        var topic = "roundtrip-" + Guid.NewGuid().ToString("N");
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 3, ReplicationFactor = 1 }]);
        }

        const int count = 300;
        using (var producer = new ProducerBuilder<string, string>(KafkaDefaults.Producer(bootstrap)).Build())
        {
            for (var i = 0; i < count; i++)
            {
                var headers = new Headers { { "seq", Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)) } };
                producer.Produce(topic, new Message<string, string> { Key = $"k{i % 7}", Value = $"v{i}", Headers = headers });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        // The first member reads half and commits; a second member of the same group must resume exactly there.
        var group = "roundtrip-" + Guid.NewGuid().ToString("N");
        var first = Consume(bootstrap, topic, group, count / 2);
        var second = Consume(bootstrap, topic, group, count - first.Count);

        var all = first.Concat(second).ToList();
        Assert.Equal(count, all.Count);
        Assert.Equal(count, all.Select(r => r.Message.Value).Distinct().Count());
        Assert.All(all, r => Assert.Equal($"v{Encoding.UTF8.GetString(r.Message.Headers.GetLastBytes("seq"))}", r.Message.Value));
        foreach (var partition in all.GroupBy(r => r.Partition.Value))
        {
            var sequence = partition.Select(r => int.Parse(r.Message.Value[1..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(sequence.Order(), sequence);
        }

        // Keys are partitioned consistently: one partition per key.
        Assert.All(all.GroupBy(r => r.Message.Key), byKey => Assert.Single(byKey.Select(r => r.Partition.Value).Distinct()));
    }

    /// <summary>
    /// Processor:Delivery=ExactlyOnce against Apache Kafka, which (unlike the embedded broker) enforces read_committed and
    /// stores transactional offsets: a processor crashes with a transaction open, a successor with the same group and
    /// transactional.id takes over (fencing it and aborting that transaction), and a read_committed reader sees every
    /// input's output exactly once.
    /// </summary>
    [DockerFact]
    public async Task ExactlyOnce_CrashMidTransactionAndRestartInSameGroup_ReadCommittedReaderSeesEveryOutputOnce()
    {
        await using var kafka = new KafkaBuilder(DeployFiles.KafkaImage).Build();
        await kafka.StartAsync();
        var bootstrap = kafka.GetBootstrapAddress();
        var input = "eos-in-" + Guid.NewGuid().ToString("N");
        var output = "eos-out-" + Guid.NewGuid().ToString("N");
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([
                new TopicSpecification { Name = input, NumPartitions = 3, ReplicationFactor = 1 },
                new TopicSpecification { Name = output, NumPartitions = 3, ReplicationFactor = 1 }]);
        }

        const int count = 3000;
        using (var producer = new ProducerBuilder<string, string>(KafkaDefaults.Producer(bootstrap)).Build())
        {
            for (var i = 0; i < count; i++)
            {
                producer.Produce(input, new Message<string, string> { Key = $"k{i}", Value = $"v{i}" });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var group = "eos-" + Guid.NewGuid().ToString("N");
        var transactionalId = group + "-instance";
        var patience = TimeSpan.FromSeconds(60);
        using (var first = new TransactionalPassThrough(bootstrap, group, transactionalId, input, output, TimeSpan.FromMilliseconds(300)))
        {
            // Crash after at least one commit, while later outputs sit in the open transaction.
            Assert.True(await UntilAsync(() => first.Metrics.TransactionsCommitted >= 1 && first.Metrics.Produced > 0 && first.Transactions.Open, patience));
            await first.CrashAsync(patience);
            _output.WriteLine($"crashed after {first.Metrics.TransactionsCommitted} commits, {first.Metrics.Produced} outputs acknowledged");
        }

        using (var second = new TransactionalPassThrough(bootstrap, group, transactionalId, input, output, TimeSpan.FromMilliseconds(300)))
        {
            // Not joining the group: only its committed offsets (stored by the transactions) are read.
            using var offsets = new ConsumerBuilder<string, string>(KafkaDefaults.Consumer(bootstrap, group)).Build();
            var partitions = Enumerable.Range(0, 3).Select(p => new TopicPartition(input, p)).ToList();
            var ends = partitions.Sum(p => offsets.QueryWatermarkOffsets(p, TimeSpan.FromSeconds(10)).High.Value);
            long Committed() => offsets.Committed(partitions, TimeSpan.FromSeconds(10)).Sum(o => Math.Max(0, o.Offset.Value));
            Assert.True(await UntilAsync(() => Committed() == ends, patience), $"committed {Committed()} of {ends}");
            await second.StopAsync(patience);
            Assert.Empty(second.Fatal);
            _output.WriteLine($"second: {second.Metrics.TransactionsCommitted} commits, {second.Metrics.Produced} outputs; input ends sum {ends}");
        }

        var config = KafkaDefaults.Consumer(bootstrap, "eos-reader-" + Guid.NewGuid().ToString("N"));
        config.IsolationLevel = IsolationLevel.ReadCommitted;
        using var reader = new ConsumerBuilder<string, string>(config).Build();
        reader.Subscribe(output);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var quiet = System.Diagnostics.Stopwatch.StartNew();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < patience && (seen.Count < count || quiet.Elapsed < TimeSpan.FromSeconds(5)))
        {
            if (reader.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                seen[result.Message.Value] = seen.GetValueOrDefault(result.Message.Value) + 1;
                quiet.Restart();
            }
        }

        Assert.Equal(count, seen.Count);
        Assert.All(seen, pair => Assert.Equal(1, pair.Value));
    }

    private static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    private static List<ConsumeResult<string, string>> Consume(string bootstrap, string topic, string group, int wanted)
    {
        var config = KafkaDefaults.Consumer(bootstrap, group);
        config.EnableAutoCommit = false;
        using var consumer = new ConsumerBuilder<string, string>(config).Build();
        consumer.Subscribe(topic);
        var results = new List<ConsumeResult<string, string>>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (results.Count < wanted && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { Message: not null } result)
            {
                results.Add(result);
            }
        }

        Assert.Equal(wanted, results.Count);
        consumer.Commit(results.GroupBy(r => r.TopicPartition).Select(g => new TopicPartitionOffset(g.Key, g.Max(r => r.Offset.Value) + 1)));
        consumer.Close();
        return results;
    }
}
