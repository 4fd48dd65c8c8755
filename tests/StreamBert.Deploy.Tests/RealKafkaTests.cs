using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using StreamBert.Kafka;
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
