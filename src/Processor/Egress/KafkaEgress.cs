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
/// has acknowledged every record it caused. A delivery that fails after the client's own retries is
/// fatal: the host stops without committing that offset, and a restart re-processes it.
/// </summary>
public sealed partial class KafkaEgress
{
    private readonly IProducer<byte[]?, byte[]> _producer;
    private readonly OffsetTracker _tracker;
    private readonly ProcessorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action<Exception> _onFatal;

    public KafkaEgress(IProducer<byte[]?, byte[]> producer, OffsetTracker tracker, ProcessorMetrics metrics, ILogger logger, Action<Exception> onFatal)
    {
        _producer = producer;
        _tracker = tracker;
        _metrics = metrics;
        _logger = logger;
        _onFatal = onFatal;
    }

    public async Task RunAsync(ChannelReader<OutputSet> input, CancellationToken cancellationToken)
    {
        while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (input.TryRead(out var set))
            {
                Produce(set, cancellationToken);
            }
        }

        // Input completed: everything upstream is drained; wait for the broker to acknowledge the rest.
        while (_producer.Flush(TimeSpan.FromSeconds(1)) > 0 && !cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void Produce(OutputSet set, CancellationToken cancellationToken)
    {
        var remaining = set.Records.Count;
        var position = set.Input.Position;
        var generation = set.Input.Generation;
        var consumedAt = set.Input.ConsumedAtTicks;
        using var span = ProcessingSpan(set);
        var traceParent = span?.Id is { } id ? Encoding.ASCII.GetBytes(id) : ChildTraceParent(set.Input.Headers);
        foreach (var record in set.Records)
        {
            var message = new Message<byte[]?, byte[]> { Key = record.Key, Value = record.Value, Headers = new Headers() };
            if (record.Error is not null)
            {
                message.Headers.Add(Topics.ErrorHeader, Encoding.UTF8.GetBytes(record.Error));
                message.Headers.Add("streambert-source", Encoding.UTF8.GetBytes($"{position.Topic}/{position.Partition.Value}/{position.Offset.Value}"));
                foreach (var header in set.Input.Headers)
                {
                    message.Headers.Add(header.Key, header.GetValueBytes());
                }
            }
            else if (traceParent is not null)
            {
                message.Headers.Add(TraceParentHeader, traceParent);
            }

            var topic = record.Topic;
            var isDeadLetter = record.Error is not null;
            void OnDelivered(DeliveryReport<byte[]?, byte[]> report)
            {
                if (report.Error.IsError)
                {
                    _onFatal(new KafkaException(report.Error));
                    return;
                }

                if (isDeadLetter)
                {
                    _metrics.RecordDeadLetter(position.Topic);
                }
                else
                {
                    _metrics.RecordProduced(topic);
                }

                if (Interlocked.Decrement(ref remaining) == 0)
                {
                    _tracker.Complete(position, generation);
                    _metrics.RecordLatency(Stopwatch.GetElapsedTime(consumedAt));
                }
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
            }
        }
    }

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
