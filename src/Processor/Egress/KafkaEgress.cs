using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Postprocess;

namespace StreamBert.Processor.Egress;

/// <summary>
/// Produces output sets and marks an input finished in the <see cref="OffsetTracker"/> only when the broker
/// has acknowledged every record it caused. Failures are classified by what they say about the record:
/// <list type="bullet">
/// <item>A per-record error no retry can fix (<see cref="IsRecordError"/>: too large, invalid, rejected by the broker),
/// thrown by <c>Produce</c> or reported on delivery, sends the input to its dead-letter topic with the reason instead;
/// the offset completes once that copy is acknowledged. Outputs of the same set already delivered stay published and
/// the dead letter names their topics (<see cref="DeadLetters.PublishedHeader"/>); outputs not yet produced are not.</item>
/// <item>Anything else after the client's own retries (timeouts, broker unreachable, authorization, a dead letter that
/// itself cannot be produced) is fatal: the host stops without committing that offset, and a restart re-processes it.
/// Authorization failures are not per record: dead-lettering them would move the whole stream to the dead-letter topic.</item>
/// </list>
/// With <see cref="KafkaTransactions"/> (exactly-once) every set goes through the open transaction, which decides when
/// it commits with the offsets; a record the broker refuses aborts the transaction instead of being dead-lettered at once
/// (its transaction cannot commit), and its input is dead-lettered when consumed again.
/// </summary>
public sealed partial class KafkaEgress
{
    private readonly IProducer<byte[]?, byte[]> _producer;
    private readonly OffsetTracker _tracker;
    private readonly ProcessorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action<Exception> _onFatal;
    private readonly DeadLetters _deadLetters;

    // Dead letters of sets whose delivery failed per record: built on the client's delivery thread, produced here
    // (producing from a delivery handler could not wait for room in a full queue).
    // Not SingleReader: only the multi-reader channel can Count, which the final flush loop needs.
    private readonly Channel<OutputSet> _retries = Channel.CreateUnbounded<OutputSet>();

    private readonly KafkaTransactions? _transactions;

    // Exactly-once: sets beyond the frontier of a closing transaction, produced after it commits (egress task only).
    private readonly Queue<OutputSet> _held = new();

    public KafkaEgress(IProducer<byte[]?, byte[]> producer, OffsetTracker tracker, ProcessorMetrics metrics, ILogger logger, Action<Exception> onFatal, DeadLetters deadLetters, KafkaTransactions? transactions = null)
    {
        _transactions = transactions;
        _producer = producer;
        _tracker = tracker;
        _metrics = metrics;
        _logger = logger;
        _onFatal = onFatal;
        _deadLetters = deadLetters;
    }

    /// <summary>
    /// Per-record errors: the record itself is what the client or broker refuses, so the same record fails on every retry
    /// and on every replica after a restart. librdkafka reports a record over its own message.max.bytes with the broker's
    /// code, <see cref="ErrorCode.MsgSizeTooLarge"/>, thrown by <c>Produce</c>.
    /// </summary>
    public static bool IsRecordError(ErrorCode code) => code is
        ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge
        or ErrorCode.InvalidMsg or ErrorCode.InvalidMsgSize or ErrorCode.InvalidRecord or ErrorCode.InvalidTimestamp
        or ErrorCode.Local_BadMsg;

    public async Task RunAsync(ChannelReader<OutputSet> input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        Task<bool>? inputReady = null;
        Task<bool>? retryReady = null;
        // Exactly-once: a transaction must be able to close and commit while no new set arrives.
        var tick = _transactions is null ? Timeout.InfiniteTimeSpan
            : TimeSpan.FromMilliseconds(Math.Clamp(_transactions.CommitInterval.TotalMilliseconds / 4, 5, 100));
        while (true)
        {
            TickTransaction(final: false, cancellationToken);
            while (_retries.Reader.TryRead(out var deadLetter))
            {
                Produce(deadLetter, cancellationToken);
            }

            if (input.TryRead(out var set))
            {
                var started = Stopwatch.GetTimestamp();
                Produce(set, cancellationToken);
                _metrics.Stages.Since(PipelineStage.Egress, started);
                continue;
            }

            // Idle: wait for either source, keeping a pending wait across turns rather than starting a new one each time.
            inputReady ??= input.WaitToReadAsync(cancellationToken).AsTask();
            retryReady ??= _retries.Reader.WaitToReadAsync(cancellationToken).AsTask();
            if (_transactions is null)
            {
                await Task.WhenAny(inputReady, retryReady).ConfigureAwait(false);
            }
            else
            {
                await Task.WhenAny(inputReady, retryReady, Task.Delay(tick, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (retryReady.IsCompleted)
            {
                await retryReady.ConfigureAwait(false);
                retryReady = null;
            }

            if (inputReady.IsCompleted)
            {
                if (!await inputReady.ConfigureAwait(false))
                {
                    break;
                }

                inputReady = null;
            }
        }

        // Input completed: everything upstream is drained; wait for the broker to acknowledge the rest, producing the
        // dead letters that delivery failures turn up meanwhile (delivery handlers run inside Flush).
        do
        {
            while (_retries.Reader.TryRead(out var deadLetter))
            {
                Produce(deadLetter, cancellationToken);
            }
        }
        while ((_producer.Flush(TimeSpan.FromMilliseconds(200)) > 0 || _retries.Reader.Count > 0) && !cancellationToken.IsCancellationRequested);

        if (_transactions is not null)
        {
            await CommitLastAsync(_transactions, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Exactly-once on a clean stop: commit the open transaction (and the held sets in one more) once every input in it
    /// is finished, within one transactional call timeout; what is still open then is aborted and consumed again by the
    /// next owner of its partitions (an input withdrawn at ingest leaves a gap no commit could cover).
    /// </summary>
    private async Task CommitLastAsync(KafkaTransactions transactions, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(transactions.CallTimeout.TotalSeconds * Stopwatch.Frequency);
        while (!cancellationToken.IsCancellationRequested)
        {
            while (_retries.Reader.TryRead(out var deadLetter))
            {
                Produce(deadLetter, cancellationToken);
            }

            TickTransaction(final: true, cancellationToken);
            if (!transactions.Open && _held.Count == 0 && _retries.Reader.Count == 0)
            {
                return;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                transactions.Abort("stopping with inputs of the transaction unfinished");
                return;
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Lets the transaction close or commit, then produces the sets held for the next one.</summary>
    private void TickTransaction(bool final, CancellationToken cancellationToken)
    {
        if (_transactions is null || !_transactions.Tick(final))
        {
            return;
        }

        // Producing a held set may begin a transaction that (final) closes at once and holds the rest again.
        for (var n = _held.Count; n > 0 && _transactions.Accepting; n--)
        {
            Produce(_held.Dequeue(), cancellationToken);
        }
    }

    private void Produce(OutputSet set, CancellationToken cancellationToken)
    {
        if (_transactions is null)
        {
            Produce(set, transaction: null, cancellationToken);
            return;
        }

        // Consumed again after the broker refused one of its records in an aborted transaction: it would fail again.
        if (set.Records.All(r => r.Error is null) && _transactions.RefusalOf(set.Input.Position) is { } refusal)
        {
            LogDeadLettered(_logger, set.Input.Position.ToString(), refusal);
            set = new OutputSet(set.Input, [_deadLetters.For(set.Input, refusal, [])], set.DocumentId);
        }

        switch (_transactions.Enlist(set.Input, transaction => Produce(set, transaction, cancellationToken)))
        {
            case Enlistment.Held:
                _held.Enqueue(set);
                break;
            case Enlistment.Stale:
                // Consumed before an abort or a rebalance: consumed again from the committed offsets, labelled then.
                LogStale(_logger, set.Input.Position.ToString());
                break;
        }
    }

    private void Produce(OutputSet set, KafkaTransactions.Transaction? transaction, CancellationToken cancellationToken)
    {
        var delivery = new SetDelivery(this, set);
        using var span = ProcessingSpan(set);
        var traceParent = span?.Id is { } id ? Encoding.ASCII.GetBytes(id) : ChildTraceParent(set.Input.Headers);
        for (var i = 0; i < set.Records.Count; i++)
        {
            var record = set.Records[i];
            var message = new Message<byte[]?, byte[]> { Key = record.Key, Value = record.Value, Headers = record.Headers ?? [] };
            if (record.Headers is null && traceParent is not null)
            {
                message.Headers.Add(TraceParentHeader, traceParent);
            }

            var topic = record.Topic;
            var isDeadLetter = record.Error is not null;
            void OnDelivered(DeliveryReport<byte[]?, byte[]> report)
            {
                if (transaction is not null && IgnoredInTransaction(transaction, set, report))
                {
                    return;
                }

                if (report.Error.IsError && !IsRecordError(report.Error.Code))
                {
                    _onFatal(new KafkaException(report.Error));
                    return;
                }

                if (report.Error.IsError)
                {
                    delivery.Failed(topic, report.Error);
                }
                else if (isDeadLetter)
                {
                    _metrics.RecordDeadLetter(set.Input.Position.Topic);
                }
                else
                {
                    delivery.Published(topic);
                    _metrics.RecordProduced(topic);
                }

                delivery.Done(1);
            }

            while (true)
            {
                try
                {
                    _producer.Produce(topic, message, OnDelivered);
                    break;
                }
                catch (ProduceException<byte[]?, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // The client's queue is full: wait for acknowledgements to drain it (back-pressure).
                    LogQueueFull(_logger);
                    _producer.Poll(TimeSpan.FromMilliseconds(50));
                    cancellationToken.ThrowIfCancellationRequested();
                }
                catch (ProduceException<byte[]?, byte[]> ex) when (IsRecordError(ex.Error.Code))
                {
                    // Refused before it left the process (larger than message.max.bytes, say). The records after it are not
                    // produced: the set ends here, in its dead-letter topic, once the ones already sent are acknowledged.
                    delivery.Failed(topic, ex.Error);
                    delivery.Done(set.Records.Count - i);
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Exactly-once: reports of an aborted transaction's records (purged, or never visible to read_committed readers)
    /// change nothing; nor do errors after the transaction was doomed, which are its consequences. A record the broker
    /// refuses dooms the transaction (it cannot commit that input's outputs), to be aborted and consumed again.
    /// </summary>
    private bool IgnoredInTransaction(KafkaTransactions.Transaction transaction, OutputSet set, DeliveryReport<byte[]?, byte[]> report)
    {
        if (transaction.Aborted || (report.Error.IsError && transaction.Doomed))
        {
            return true;
        }

        if (report.Error.IsError && IsRecordError(report.Error.Code))
        {
            _transactions!.Refused(transaction, set.Input.Position, $"producing to {report.Topic} failed: {report.Error.Code} ({report.Error.Reason})");
            return true;
        }

        return false;
    }

    /// <summary>Acknowledgements of one output set, counted down on the client's delivery thread.</summary>
    private sealed class SetDelivery(KafkaEgress egress, OutputSet set)
    {
        private readonly Lock _gate = new();
        private readonly List<string> _published = [];
        private int _remaining = set.Records.Count;
        private string? _failure;

        public void Published(string topic)
        {
            lock (_gate)
            {
                _published.Add(topic);
            }
        }

        public void Failed(string topic, Error error)
        {
            lock (_gate)
            {
                _failure ??= $"producing to {topic} failed: {error.Code} ({error.Reason})";
            }
        }

        public void Done(int records)
        {
            if (Interlocked.Add(ref _remaining, -records) == 0)
            {
                egress.Finish(set, _failure, _published);
            }
        }
    }

    private void Finish(OutputSet set, string? failure, List<string> published)
    {
        var position = set.Input.Position;
        if (failure is null)
        {
            _tracker.Complete(position, set.Input.Generation);
            _metrics.RecordLatency(Stopwatch.GetElapsedTime(set.Input.ConsumedAtTicks));
            return;
        }

        if (set.Records.Any(r => r.Error is not null))
        {
            // A dead letter, fitted under message.max.bytes, was refused all the same: there is nowhere left to put the input.
            _onFatal(new InvalidOperationException($"The dead letter of {position} could not be produced: {failure}"));
            return;
        }

        LogDeadLettered(_logger, position.ToString(), failure);
        _retries.Writer.TryWrite(new OutputSet(set.Input, [_deadLetters.For(set.Input, failure, published)], set.DocumentId));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outputs of {Source} could not be produced ({Reason}); the input goes to its dead-letter topic")]
    private static partial void LogDeadLettered(ILogger logger, string source, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Outputs of {Source} not produced: consumed before the last abort or rebalance, it is consumed again")]
    private static partial void LogStale(ILogger logger, string source);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Producer queue full; waiting for acknowledgements")]
    private static partial void LogQueueFull(ILogger logger);

    /// <summary>W3C trace context header: a producer's trace continues through the processor into the labels.</summary>
    public const string TraceParentHeader = "traceparent";

    /// <summary>Spans of the processor (one per input record, child of the producer's span); exported when a listener is configured.</summary>
    public static readonly ActivitySource Tracing = new("StreamBert.Processor");

    private static Activity? ProcessingSpan(OutputSet set)
    {
        if (!Tracing.HasListeners() || !set.Input.Headers.TryGetLastBytes(TraceParentHeader, out var header)
            || !ActivityContext.TryParse(Encoding.ASCII.GetString(header), null, out var parent))
        {
            return null;
        }

        var span = Tracing.StartActivity("process " + set.Input.Position.Topic, ActivityKind.Consumer, parent);
        span?.SetTag("messaging.system", "kafka");
        span?.SetTag("messaging.source.name", set.Input.Position.Topic);
        span?.SetTag("messaging.kafka.message.offset", set.Input.Position.Offset.Value);
        span?.SetTag("streambert.document.id", set.DocumentId);
        return span;
    }

    /// <summary>
    /// Without a tracing listener the processor is still a hop of the trace: same trace id and flags, a new span id,
    /// so a consumer of the labels sees them as caused by this processing, not by the original producer directly.
    /// </summary>
    private static byte[]? ChildTraceParent(Headers headers)
    {
        if (!headers.TryGetLastBytes(TraceParentHeader, out var header)
            || !ActivityContext.TryParse(Encoding.ASCII.GetString(header), null, out var parent))
        {
            return null;
        }

        var child = new ActivityContext(parent.TraceId, ActivitySpanId.CreateRandom(), parent.TraceFlags);
        return Encoding.ASCII.GetBytes($"00-{child.TraceId.ToHexString()}-{child.SpanId.ToHexString()}-{(byte)child.TraceFlags:x2}");
    }
}
