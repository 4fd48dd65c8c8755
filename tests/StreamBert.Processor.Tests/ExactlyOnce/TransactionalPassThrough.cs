using System.Collections.Concurrent;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Egress;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Postprocess;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Tests.ExactlyOnce;

/// <summary>
/// The processor's consume-transform-produce with its own Kafka stages — <see cref="ProcessorKafkaClients"/>,
/// <see cref="KafkaIngest"/>, <see cref="KafkaEgress"/>, <see cref="KafkaTransactions"/> — and an identity transform in
/// place of the model (each input value becomes one output with the same key and value). Shared by the embedded-broker
/// tests and the real-Kafka test (linked into StreamBert.Deploy.Tests), so both exercise the production code.
/// </summary>
public sealed class TransactionalPassThrough : IDisposable
{
    private readonly ProcessorKafkaClients _clients;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly Task _ingest;
    private bool _stopped;

    public TransactionalPassThrough(string bootstrapServers, string groupId, string transactionalId, string inputTopic, string outputTopic, TimeSpan commitInterval)
    {
        // Fast group membership (the embedded broker completes a change after session.timeout.ms - 1 s).
        var kafka = new KafkaClientSettings
        {
            Consumer = { ["session.timeout.ms"] = "6000", ["heartbeat.interval.ms"] = "300", ["fetch.wait.max.ms"] = "100" },
        };
        var options = new ProcessorOptions
        {
            BootstrapServers = bootstrapServers,
            GroupId = groupId,
            Delivery = DeliveryGuarantee.ExactlyOnce,
            TransactionalId = transactionalId,
            CommitInterval = commitInterval,
        };
        _clients = ProcessorKafkaClients.Create(kafka, options, Tracker, Metrics, NullLogger.Instance, e =>
        {
            if (e.IsFatal)
            {
                Fatal.Add(new KafkaException(e));
            }
        });
        var transactions = _clients.Transactions!;
        transactions.Committed += offsets => Commits.Enqueue(offsets);
        var budget = new InFlightBudget(64L * 1024 * 1024, TimeSpan.FromMinutes(10), minTokens: 10_000_000);
        var records = Channel.CreateBounded<InputRecord>(1024);
        var outputs = Channel.CreateBounded<OutputSet>(1024);
        var egress = new KafkaEgress(_clients.Producer, Tracker, Metrics, NullLogger.Instance, Fatal.Add, new DeadLetters(new TopicNames(), DeadLetters.DefaultMessageMaxBytes), transactions);
        var ingest = new KafkaIngest(_clients.Consumer, Tracker, budget, Metrics, NullLogger.Instance, transactions) { ResetOffset = _clients.ResetOffset };

        var transform = Task.Run(async () =>
        {
            try
            {
                await foreach (var record in records.Reader.ReadAllAsync(_abort.Token))
                {
                    budget.Release(record);
                    await outputs.Writer.WriteAsync(new OutputSet(record, [new OutputRecord(outputTopic, record.Key, record.Value ?? [])], null), _abort.Token);
                }

                outputs.Writer.TryComplete();
            }
            catch (OperationCanceledException ex)
            {
                outputs.Writer.TryComplete(ex);
            }
        });
        var egressTask = Task.Run(() => egress.RunAsync(outputs.Reader, _abort.Token));
        _ingest = ingest.RunAsync([inputTopic], records.Writer, Task.WhenAll(transform, egressTask), _stop.Token);
        Egress = egressTask;
    }

    public OffsetTracker Tracker { get; } = new();
    public ProcessorMetrics Metrics { get; } = new();
    public KafkaTransactions Transactions => _clients.Transactions!;
    public ConcurrentBag<Exception> Fatal { get; } = [];

    /// <summary>Offsets of each committed transaction, in commit order.</summary>
    public ConcurrentQueue<IReadOnlyList<TopicPartitionOffset>> Commits { get; } = new();

    public Task Egress { get; }

    /// <summary>Clean stop: drain, commit the last transaction, leave the group.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        await _stop.CancelAsync();
        await _ingest.WaitAsync(timeout);
        await Egress.WaitAsync(timeout);
        _stopped = true;
    }

    /// <summary>
    /// A crash mid-stream: egress stops without committing (the open transaction keeps its produced but uncommitted
    /// outputs), ingest leaves the group without committing anything, and the producer is disposed with the transaction open.
    /// </summary>
    public async Task CrashAsync(TimeSpan timeout)
    {
        await _abort.CancelAsync();
        await _stop.CancelAsync();
        await _ingest.WaitAsync(timeout);
        await Task.WhenAny(Egress, Task.Delay(timeout));
        _stopped = true;
    }

    public void Dispose()
    {
        if (_stopped)
        {
            _clients.Dispose();
        }

        _stop.Dispose();
        _abort.Dispose();
        Metrics.Dispose();
    }
}
