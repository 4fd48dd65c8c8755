using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Egress;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Postprocess;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Tests.ExactlyOnce;

/// <summary>
/// Processor:Delivery=ExactlyOnce on the embedded broker. Its read_committed is not enforced and
/// SendOffsetsToTransaction stores nothing, so these tests prove what the processor hands to Kafka — which outputs are
/// in which transaction and which offsets commit with them — and that the code path runs; the guarantee itself against
/// Apache Kafka is StreamBert.Deploy.Tests' RealKafkaTests.ExactlyOnce_*.
/// </summary>
public sealed class ExactlyOnceTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Commit_OutputsFinishOutOfOrder_CommitsOnlyTheContiguousRunAndHoldsLaterOutputsForTheNextTransaction()
    {
        using var run = new EgressRun(kafka, TimeSpan.FromMilliseconds(150));
        var inputs = Enumerable.Range(0, 8).Select(i => run.Input(i)).ToList();

        run.Send(inputs[0], inputs[1], inputs[2], inputs[5], inputs[6]);
        Assert.True(await UntilAsync(() => run.Metrics.Produced == 5));
        // The transaction is now closing with frontier 6; 3 and 4 are the gap it waits for.
        await Task.Delay(400);
        run.Send(inputs[7]);
        await Task.Delay(300);
        Assert.Empty(run.Commits);
        Assert.Equal(5, run.Metrics.Produced); // 7 lies beyond the frontier: held, not in this transaction.

        run.Send(inputs[3], inputs[4]);
        Assert.True(await UntilAsync(() => !run.Commits.IsEmpty));
        await run.CompleteAsync();

        Assert.Equal([[$"{run.Topic} [[0]] @7"], [$"{run.Topic} [[0]] @8"]], run.Commits.Select(c => c.Select(o => o.ToString()).ToList()).ToList());
        Assert.Equal(2, run.Metrics.TransactionsCommitted);
        Assert.Equal(0, run.Metrics.TransactionsAborted);
        Assert.Equal(8, run.Read(run.Output, 8).Count);
        Assert.Empty(run.Fatal);
    }

    [Fact]
    public async Task Abort_OnRevocation_NothingOfTheAbortedRunCommittedAndItsLateSetsNotProduced()
    {
        using var run = new EgressRun(kafka, TimeSpan.FromSeconds(30));
        var before = Enumerable.Range(0, 3).Select(i => run.Input(i)).ToList();
        run.Send(before[0], before[1]);
        Assert.True(await UntilAsync(() => run.Metrics.Produced == 2));

        // What the revocation handler does (KafkaIngest.WithRebalanceHandlers).
        run.Transactions.Abort("partitions revoked");
        run.Tracker.Reset();
        run.Send(before[2]); // consumed before the revocation: stale
        await Task.Delay(300);
        Assert.Equal(2, run.Metrics.Produced);

        // The partition's next owner (here: the same member again) consumes from the committed offset.
        var again = Enumerable.Range(0, 3).Select(i => run.Input(i)).ToList();
        run.Send([.. again]);
        await run.CompleteAsync();

        Assert.Equal(1, run.Metrics.TransactionsAborted);
        var commit = Assert.Single(run.Commits);
        Assert.Equal(new TopicPartitionOffset(run.Topic, 0, 3), Assert.Single(commit));
        Assert.Equal(5, run.Metrics.Produced);
        Assert.Empty(run.Fatal);
    }

    [Fact]
    public async Task Abort_BrokerRefusesRecord_TransactionAbortedRewindRequestedAndInputDeadLetteredWhenConsumedAgain()
    {
        using var run = new EgressRun(kafka, TimeSpan.FromMilliseconds(100));
        kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.MsgSizeTooLarge);
        try
        {
            run.Send(run.Input(0));
            Assert.True(await UntilAsync(() => run.Metrics.TransactionsAborted == 1));
        }
        finally
        {
            kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
        }

        Assert.True(run.Transactions.TakeRewind());
        Assert.Empty(run.Commits);

        // The rewind ingest performs: reset, consume again from the committed offset. Only the refused input: after the
        // refusal the embedded broker no longer accepts the output partition's records even in a new transaction (its
        // idempotence state does not follow the epoch bump of the abort), which real Kafka does.
        run.Tracker.Reset();
        run.Send(run.Input(0));
        var aborts = new ConcurrentQueue<string>();
        run.Transactions.Aborted += aborts.Enqueue;
        await run.CompleteAsync();

        Assert.True(run.Commits.Count == 1, $"aborted {string.Join("; ", aborts)}, produced {run.Metrics.Produced}, dead letters {run.Metrics.DeadLettered}, fatal {string.Join("; ", run.Fatal)}");
        var commit = run.Commits.Single();
        Assert.Equal(new TopicPartitionOffset(run.Topic, 0, 1), Assert.Single(commit));
        var letter = Assert.Single(run.Read(Topics.DeadLetterOf(run.Topic), 1));
        Assert.Contains("MsgSizeTooLarge", Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(Topics.ErrorHeader)), StringComparison.Ordinal);
        Assert.Empty(run.Fatal);
    }

    [Fact]
    public async Task Pipeline_ExactlyOnce_LabelsEveryInputAndCommitsTheEndOfEachPartition()
    {
        var input = kafka.NewTopic("eos-in", 3);
        var output = kafka.NewTopic("eos-out", 3);
        const int count = 300;
        using (var producer = new ProducerBuilder<string, string>(kafka.ProducerConfig()).Build())
        {
            for (var i = 0; i < count; i++)
            {
                producer.Produce(input, new Message<string, string> { Key = $"k{i}", Value = $"v{i}" });
            }

            Assert.Equal(0, producer.Flush(Patience));
        }

        using var pipeline = new TransactionalPassThrough(kafka.BootstrapServers, EmbeddedKafkaFixture.NewGroupId("eos"), "eos-" + Guid.NewGuid().ToString("N"), input, output, TimeSpan.FromMilliseconds(200));
        Assert.True(await UntilAsync(() => pipeline.Metrics.Produced == count), $"produced {pipeline.Metrics.Produced}");
        await pipeline.StopAsync(Patience);

        Assert.Empty(pipeline.Fatal);
        Assert.True(pipeline.Metrics.TransactionsCommitted >= 1);
        Assert.Equal(0, pipeline.Metrics.TransactionsAborted);
        // The last offsets committed per partition are the partition's end: every input finished, none skipped.
        var last = pipeline.Commits.SelectMany(c => c).GroupBy(o => o.Partition.Value).ToDictionary(g => g.Key, g => g.Max(o => o.Offset.Value));
        using var reader = new ConsumerBuilder<string, string>(kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("eos-read"))).Build();
        for (var partition = 0; partition < 3; partition++)
        {
            var end = reader.QueryWatermarkOffsets(new TopicPartition(input, partition), Patience).High.Value;
            Assert.Equal(end, last.GetValueOrDefault(partition, 0));
        }

        // Each commit's offsets only grow: a transaction never commits offsets behind an earlier one.
        var seen = new Dictionary<int, long>();
        foreach (var offset in pipeline.Commits.SelectMany(c => c))
        {
            Assert.True(offset.Offset.Value > seen.GetValueOrDefault(offset.Partition.Value, -1));
            seen[offset.Partition.Value] = offset.Offset.Value;
        }

        reader.Subscribe(output);
        var values = new HashSet<string>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        while (values.Count < count && clock.Elapsed < Patience)
        {
            if (reader.Consume(TimeSpan.FromMilliseconds(100)) is { Message: not null } result)
            {
                Assert.True(values.Add(result.Message.Value), $"duplicate {result.Message.Value}");
            }
        }

        Assert.Equal(count, values.Count);
    }

    [Fact]
    public void Options_DeliveryNotAGuarantee_ClearConfigurationError()
    {
        using var host = ProcessorHost.Build([new("Processor:Delivery", "Sometimes"), new("Processor:Registry", "/tmp")]);
        var error = Assert.ThrowsAny<InvalidOperationException>(() => host.Services.GetRequiredService<IOptions<ProcessorOptions>>().Value);
        Assert.Contains("Processor:Delivery", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_ExactlyOnce_TransactionalProducerAndReadCommittedConsumerWithoutAutoCommit()
    {
        using var host = ProcessorHost.Build([new("Processor:Delivery", "ExactlyOnce"), new("Processor:GroupId", "g1"), new("Processor:Registry", "/tmp")]);
        var options = host.Services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
        var kafkaSettings = new KafkaClientSettings { Consumer = { ["enable.auto.commit"] = "true" } };

        var consumer = kafkaSettings.ConsumerConfig(options);
        var producer = kafkaSettings.ProducerConfig(options);

        Assert.Equal(DeliveryGuarantee.ExactlyOnce, options.Delivery);
        Assert.False(consumer.EnableAutoCommit);
        Assert.False(consumer.EnableAutoOffsetStore);
        Assert.Equal(IsolationLevel.ReadCommitted, consumer.IsolationLevel);
        Assert.Equal($"g1-{Environment.MachineName}", producer.TransactionalId);
        Assert.Null(new KafkaClientSettings().ProducerConfig(new ProcessorOptions()).TransactionalId);
        Assert.True(new KafkaClientSettings().ConsumerConfig(new ProcessorOptions()).EnableAutoCommit);
    }

    private static async Task<bool> UntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Patience)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    /// <summary>A transactional egress on one single-partition input topic, fed sets by the test.</summary>
    private sealed class EgressRun : IDisposable
    {
        private readonly EmbeddedKafkaFixture _kafka;
        private readonly IProducer<byte[]?, byte[]> _producer;
        private readonly IConsumer<byte[]?, byte[]?> _consumer;
        private readonly Channel<OutputSet> _channel = Channel.CreateUnbounded<OutputSet>();
        private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(25));
        private readonly Task _egress;

        public EgressRun(EmbeddedKafkaFixture kafka, TimeSpan commitInterval)
        {
            _kafka = kafka;
            Topic = kafka.NewTopic("eos-egress-in", 1);
            Output = kafka.NewTopic("eos-egress-out", 1);
            kafka.Broker.CreateTopic(Topics.DeadLetterOf(Topic), 1);
            var config = kafka.ProducerConfig();
            config.TransactionalId = "eos-test-" + Guid.NewGuid().ToString("N");
            config.MessageTimeoutMs = 10_000;
            _producer = new ProducerBuilder<byte[]?, byte[]>(config).Build();
            _producer.InitTransactions(TimeSpan.FromSeconds(10));
            _consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("eos-egress"))).Build();
            Transactions = new KafkaTransactions(_producer, Tracker, () => _consumer.ConsumerGroupMetadata, commitInterval, Metrics, NullLogger.Instance, TimeSpan.FromSeconds(10));
            Transactions.Committed += offsets => Commits.Enqueue(offsets);
            var egress = new KafkaEgress(_producer, Tracker, Metrics, NullLogger.Instance, Fatal.Add, new DeadLetters(new TopicNames(), DeadLetters.DefaultMessageMaxBytes), Transactions);
            _egress = Task.Run(() => egress.RunAsync(_channel.Reader, _timeout.Token));
        }

        public string Topic { get; }
        public string Output { get; }
        public OffsetTracker Tracker { get; } = new();
        public ProcessorMetrics Metrics { get; } = new();
        public KafkaTransactions Transactions { get; }
        public ConcurrentBag<Exception> Fatal { get; } = [];
        public ConcurrentQueue<IReadOnlyList<TopicPartitionOffset>> Commits { get; } = new();

        /// <summary>Consumes offset <paramref name="offset"/> of the input topic (tracks it in the current generation).</summary>
        public InputRecord Input(long offset)
        {
            var position = new TopicPartitionOffset(Topic, 0, offset);
            var key = Encoding.UTF8.GetBytes($"in-{offset}");
            return new InputRecord(position, key, key, [], Stopwatch.GetTimestamp(), Tracker.Track(position));
        }

        public void Send(params InputRecord[] inputs)
        {
            foreach (var input in inputs)
            {
                _channel.Writer.TryWrite(new OutputSet(input, [new OutputRecord(Output, input.Key, input.Value!)], null));
            }
        }

        public async Task CompleteAsync()
        {
            _channel.Writer.TryComplete();
            await _egress;
        }

        public List<ConsumeResult<byte[]?, byte[]>> Read(string topic, int expected)
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]>(_kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("eos-read"))).Build();
            consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
            var results = new List<ConsumeResult<byte[]?, byte[]>>();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < Patience && results.Count < expected)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { } result)
                {
                    results.Add(result);
                }
            }

            return results;
        }

        public void Dispose()
        {
            _channel.Writer.TryComplete();
            _timeout.Cancel();
            _ = Task.WhenAny(_egress, Task.Delay(5000)).GetAwaiter().GetResult();
            _consumer.Dispose();
            _producer.Dispose();
            _timeout.Dispose();
            Metrics.Dispose();
        }
    }
}
