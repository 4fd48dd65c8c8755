using System.Net.Sockets;
using Confluent.Kafka;
using StreamBert.Contracts;

namespace StreamBert.Kafka.Tests;

public sealed class BrokerHostTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("streambert-broker-").FullName;

    [Fact]
    public async Task RunAsync_WithBootstrapFile_ServesStreamBertTopicsUntilCancelled()
    {
        var bootstrapFile = Path.Combine(_directory, "state", "bootstrap");
        using var output = new StringWriter();
        using var stop = new CancellationTokenSource();
        var options = new BrokerHostOptions { Brokers = 2, Partitions = 4, BootstrapFile = bootstrapFile };

        var running = BrokerHost.RunAsync(options, output, stop.Token);
        Assert.True(await Await.UntilAsync(() => File.Exists(bootstrapFile) || running.IsCompleted, Patience), "no bootstrap file appeared");
        Assert.False(running.IsCompleted, $"the host stopped early: {output}");
        var bootstrapServers = await File.ReadAllTextAsync(bootstrapFile);

        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrapServers }).Build())
        {
            var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
            Assert.Equal(2, metadata.Brokers.Count);
            var partitions = metadata.Topics.ToDictionary(t => t.Topic, t => t.Partitions.Count);
            Assert.Equal(4, partitions[Topics.Messages]);
            Assert.Equal(4, partitions["labels.dlq"]);
            Assert.Equal(1, partitions[Topics.Models]);
            Assert.Equal(1, partitions[Topics.TrainerRuns]);
            Assert.Equal(13, partitions.Count);
        }

        using (var producer = new ProducerBuilder<string, string>(KafkaDefaults.Producer(bootstrapServers)).Build())
        {
            await producer.ProduceAsync(Topics.Messages, new Message<string, string> { Key = "m-1", Value = "{\"id\":\"m-1\",\"body\":\"hi\"}" });
        }

        using (var consumer = new ConsumerBuilder<string, string>(KafkaDefaults.Consumer(bootstrapServers, EmbeddedKafkaFixture.NewGroupId("host"))).Build())
        {
            consumer.Subscribe(Topics.Messages);
            var received = Await.Consume(consumer, 1, Patience);
            consumer.Close();
            Assert.Equal("m-1", Assert.Single(received).Message.Key);
        }

        await stop.CancelAsync();
        var exitCode = await running.WaitAsync(Patience);

        Assert.Equal(0, exitCode);
        Assert.Contains(bootstrapServers, output.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(bootstrapFile), "the bootstrap file outlived the broker");
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(bootstrapFile)!));
        var firstBroker = bootstrapServers.Split(',')[0].Split(':');
        using var socket = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(firstBroker[0], int.Parse(firstBroker[1])));
    }

    [Fact]
    public async Task RunAsync_NoBrokers_ReturnsInvalidOptionsWithoutStarting()
    {
        using var output = new StringWriter();

        var exitCode = await BrokerHost.RunAsync(new BrokerHostOptions { Brokers = 0 }, output, CancellationToken.None);

        Assert.Equal(BrokerHost.InvalidOptionsExitCode, exitCode);
        Assert.StartsWith("error:", output.ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
