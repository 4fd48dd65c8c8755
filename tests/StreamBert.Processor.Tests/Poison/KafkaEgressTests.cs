using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Egress;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Postprocess;

namespace StreamBert.Processor.Tests.Poison;

/// <summary>
/// Egress against the embedded broker: a record the client or broker refuses sends its input to the dead-letter topic
/// with the reason and completes the offset; an error that is not the record's stops the host as before.
/// </summary>
public sealed class KafkaEgressTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    private const int ProducerLimit = 20_000;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Produce_RecordOverProducerMessageMaxBytes_InputDeadLetteredWithReasonAndOffsetCompleted()
    {
        var run = new Run(kafka);
        var input = run.Input("in-1", "the input"u8.ToArray());
        var set = new OutputSet(input, [new OutputRecord(run.Output, Encoding.UTF8.GetBytes("in-1"), new byte[3 * ProducerLimit])], "in-1");

        await run.EgressAsync(set);

        var letter = Assert.Single(run.Read(run.DeadLetterTopic, 1));
        Assert.Equal("the input", Encoding.UTF8.GetString(letter.Message.Value));
        Assert.Contains("MsgSizeTooLarge", Header(letter, Topics.ErrorHeader), StringComparison.Ordinal);
        Assert.Equal($"{run.Input_}/0/0", Header(letter, DeadLetters.SourceHeader));
        Assert.Empty(run.Read(run.Output, 0));
        Assert.Equal(0, run.Tracker.InFlight);
        Assert.Empty(run.Fatal);
    }

    [Fact]
    public async Task Produce_SecondOfTwoOutputsRefused_DeadLetterNamesTheOutputAlreadyPublished()
    {
        var run = new Run(kafka);
        var input = run.Input("in-2", "an article"u8.ToArray());
        var set = new OutputSet(input, [
            new OutputRecord(run.Output, Encoding.UTF8.GetBytes("in-2"), "{\"small\":true}"u8.ToArray()),
            new OutputRecord(run.Output2, Encoding.UTF8.GetBytes("in-2"), new byte[3 * ProducerLimit])], "in-2");

        await run.EgressAsync(set);

        var letter = Assert.Single(run.Read(run.DeadLetterTopic, 1));
        Assert.Equal(run.Output, Header(letter, DeadLetters.PublishedHeader));
        Assert.Contains(run.Output2, Header(letter, Topics.ErrorHeader), StringComparison.Ordinal);
        Assert.Single(run.Read(run.Output, 1));
        Assert.Empty(run.Read(run.Output2, 0));
        Assert.Equal(0, run.Tracker.InFlight);
    }

    [Fact]
    public async Task Produce_BrokerRejectsRecord_InputDeadLetteredFromTheDeliveryReportAndLaterSetsProduced()
    {
        var run = new Run(kafka);
        var first = run.Input("in-3", "first"u8.ToArray());
        var second = run.Input("in-4", "second"u8.ToArray());

        // The broker answers the first produce request with MESSAGE_TOO_LARGE, as a broker with a lower
        // max.message.bytes than the producer's would; the dead letter and the second set go in later requests.
        kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.MsgSizeTooLarge);
        try
        {
            await run.EgressAsync(
                new OutputSet(first, [new OutputRecord(run.Output, "in-3"u8.ToArray(), "{}"u8.ToArray())], "in-3"),
                new OutputSet(second, [new OutputRecord(run.Output, "in-4"u8.ToArray(), "{}"u8.ToArray())], "in-4"));
        }
        finally
        {
            kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
        }

        var letters = run.Read(run.DeadLetterTopic, 1);
        var outputs = run.Read(run.Output, 1);
        Assert.Equal(2, letters.Count + outputs.Count);
        // Both sets may have shared the refused request; each input is in exactly one place either way.
        Assert.NotEmpty(letters);
        Assert.All(letters, l => Assert.Contains("MsgSizeTooLarge", Header(l, Topics.ErrorHeader), StringComparison.Ordinal));
        Assert.Equal(["in-3", "in-4"], letters.Concat(outputs).Select(r => Encoding.UTF8.GetString(r.Message.Key!)).Order(StringComparer.Ordinal));
        Assert.Equal(0, run.Tracker.InFlight);
        Assert.Empty(run.Fatal);
    }

    [Fact]
    public async Task Produce_TopicAuthorizationFailed_FatalNotDeadLettered()
    {
        var run = new Run(kafka);
        var input = run.Input("in-5", "x"u8.ToArray());
        kafka.Broker.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed);
        try
        {
            await run.EgressAsync(new OutputSet(input, [new OutputRecord(run.Output, "in-5"u8.ToArray(), "{}"u8.ToArray())], "in-5"));
        }
        finally
        {
            kafka.Broker.ClearRequestErrors(KafkaApiKey.Produce);
        }

        Assert.Contains(run.Fatal, ex => ex is KafkaException { Error.Code: ErrorCode.TopicAuthorizationFailed });
        Assert.Empty(run.Read(run.DeadLetterTopic, 0));
        Assert.Equal(1, run.Tracker.InFlight);
    }

    [Theory]
    [InlineData(ErrorCode.MsgSizeTooLarge, true)]
    [InlineData(ErrorCode.InvalidRecord, true)]
    [InlineData(ErrorCode.RecordListTooLarge, true)]
    [InlineData(ErrorCode.InvalidMsg, true)]
    [InlineData(ErrorCode.Local_MsgTimedOut, false)]
    [InlineData(ErrorCode.TopicAuthorizationFailed, false)]
    [InlineData(ErrorCode.Local_UnknownTopic, false)]
    [InlineData(ErrorCode.NotEnoughReplicas, false)]
    public void IsRecordError_Code_OnlyErrorsOfTheRecordItself(ErrorCode code, bool expected)
    {
        Assert.Equal(expected, KafkaEgress.IsRecordError(code));
    }

    private static string Header(ConsumeResult<byte[]?, byte[]> record, string name) =>
        record.Message.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : "";

    /// <summary>Topics, a tracker and an egress with a producer whose message.max.bytes is <see cref="ProducerLimit"/>.</summary>
    private sealed class Run
    {
        private readonly EmbeddedKafkaFixture _kafka;
        private long _offset;

        public Run(EmbeddedKafkaFixture kafka)
        {
            _kafka = kafka;
            Input_ = kafka.NewTopic("egress-in", 1);
            Output = kafka.NewTopic("egress-out", 1);
            Output2 = kafka.NewTopic("egress-out2", 1);
            DeadLetterTopic = Topics.DeadLetterOf(Input_);
            kafka.Broker.CreateTopic(DeadLetterTopic, 1);
        }

        public string Input_ { get; }
        public string Output { get; }
        public string Output2 { get; }
        public string DeadLetterTopic { get; }
        public OffsetTracker Tracker { get; } = new();
        public ConcurrentBag<Exception> Fatal { get; } = [];

        public InputRecord Input(string key, byte[] value)
        {
            var position = new TopicPartitionOffset(Input_, 0, _offset++);
            return new InputRecord(position, Encoding.UTF8.GetBytes(key), value, [], 0, Tracker.Track(position));
        }

        public async Task EgressAsync(params OutputSet[] sets)
        {
            var config = KafkaDefaults.Producer(_kafka.BootstrapServers);
            config.EnableIdempotence = true;
            config.MessageMaxBytes = ProducerLimit;
            config.MessageTimeoutMs = 10_000;
            using var producer = new ProducerBuilder<byte[]?, byte[]>(config).Build();
            using var metrics = new ProcessorMetrics();
            var egress = new KafkaEgress(producer, Tracker, metrics, NullLogger.Instance, Fatal.Add, new DeadLetters(new TopicNames(), ProducerLimit));
            var channel = Channel.CreateUnbounded<OutputSet>();
            foreach (var set in sets)
            {
                channel.Writer.TryWrite(set);
            }

            channel.Writer.TryComplete();
            using var timeout = new CancellationTokenSource(Patience);
            await egress.RunAsync(channel.Reader, timeout.Token);
        }

        /// <summary>Everything on the (single-partition) topic: reads until <paramref name="expected"/> arrived, then 1.5 s more.</summary>
        public List<ConsumeResult<byte[]?, byte[]>> Read(string topic, int expected)
        {
            var config = _kafka.ConsumerConfig(EmbeddedKafkaFixture.NewGroupId("egress-read"));
            using var consumer = new ConsumerBuilder<byte[]?, byte[]>(config).Build();
            consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
            var results = new List<ConsumeResult<byte[]?, byte[]>>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var quiet = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < Patience && (results.Count < expected || quiet.Elapsed < TimeSpan.FromSeconds(1.5)))
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { } result)
                {
                    results.Add(result);
                    quiet.Restart();
                }
            }

            return results;
        }
    }
}
