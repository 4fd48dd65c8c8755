using System.Diagnostics.CodeAnalysis;
using System.Diagnostics;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Egress;

namespace StreamBert.Processor.Ingest;

/// <summary>
/// The consume loop, on its own thread as the Kafka client's examples run it. It stores only offsets the
/// <see cref="OffsetTracker"/> has released (auto-commit then commits stored offsets), holds back while the pipeline
/// is full, commits on revocation, and on shutdown waits for the pipeline to drain
/// before its final commit. Back-pressure is the <see cref="InFlightBudget"/>'s: when it is full the loop first waits
/// (up to <see cref="PauseAfter"/>) for it to fall below half, keeping what librdkafka has prefetched; only a longer
/// overload pauses every assigned partition, resumed when the budget is below half (hysteresis: librdkafka drops its
/// prefetch on each pause, so pausing per record would thrash), and while paused it keeps calling <c>Consume</c> so
/// group events (rebalances) are served. Either way the backlog stays in Kafka, where consumer lag shows it. It also publishes consumer lag (from the consume thread, about once a second)
/// and broker reachability (a metadata probe on the consumer's connections every 2 s) to
/// <see cref="ProcessorMetrics.Ingest"/>, for the metrics and readiness endpoints.
/// With <see cref="KafkaTransactions"/> (exactly-once) it stores and commits nothing itself: offsets commit inside the
/// producer's transactions; revocation aborts the open transaction, and after an aborted transaction the loop rewinds its
/// partitions to the committed offsets.
/// </summary>
public sealed partial class KafkaIngest
{
    private readonly IConsumer<byte[]?, byte[]?> _consumer;
    private readonly OffsetTracker _tracker;
    private readonly ProcessorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly InFlightBudget _budget;
    private readonly KafkaTransactions? _transactions;
    private long _lagPublishedTicks;
    private readonly Dictionary<TopicPartition, Offset> _startOffsets = [];
    private bool _paused;

    // A metadata request per probe: cheap for a broker, and unlike the consume loop it fails visibly when
    // no broker is reachable (Consume just returns nothing).
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan LagInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PausedLagQueryBudget = TimeSpan.FromMilliseconds(500);

    public KafkaIngest(IConsumer<byte[]?, byte[]?> consumer, OffsetTracker tracker, InFlightBudget budget, ProcessorMetrics metrics, ILogger logger, KafkaTransactions? transactions = null)
    {
        _transactions = transactions;
        _budget = budget;
        _consumer = consumer;
        _tracker = tracker;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Where a rewind seeks a partition that has no committed offset (from <c>auto.offset.reset</c>).</summary>
    public Offset ResetOffset { get; init; } = Offset.Beginning;

    /// <summary>
    /// How long ingest waits for a full budget to fall below half before it pauses its partitions. A pause makes
    /// librdkafka drop what it has prefetched, and after the resume the engine waits for a fetch; a short wait instead
    /// keeps the prefetch (bounded by <c>queued.max.messages.kbytes</c>) and the engine fed. Bounded, because while it
    /// waits the loop does not poll, so group events (rebalances) wait too; past it ingest pauses and polls as before.
    /// Zero pauses at once.
    /// </summary>
    public TimeSpan PauseAfter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Bound of the committed-offsets request of a rewind; past it the rewind fails and the host stops.</summary>
    public TimeSpan RewindTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Consumer config handlers that keep the tracker consistent with the assignment. With <paramref name="transactions"/>
    /// (exactly-once) revocation aborts the open transaction instead of committing: a transaction holding outputs of
    /// partitions this member no longer owns must not commit (the group coordinator would also refuse its offsets), and
    /// the new owner consumes them again from the committed offsets.
    /// </summary>
    public static ConsumerBuilder<byte[]?, byte[]?> WithRebalanceHandlers(ConsumerBuilder<byte[]?, byte[]?> builder, OffsetTracker tracker, ILogger logger, KafkaTransactions? transactions = null)
        => transactions is not null
        ? builder
            .SetPartitionsAssignedHandler((_, partitions) => LogAssigned(logger, string.Join(", ", partitions)))
            .SetPartitionsRevokedHandler((_, partitions) =>
            {
                transactions.Abort("partitions revoked");
                tracker.Reset();
                LogRevoked(logger, string.Join(", ", partitions));
            })
            .SetPartitionsLostHandler((_, partitions) =>
            {
                transactions.Abort("partitions lost");
                tracker.Reset();
                LogRevoked(logger, string.Join(", ", partitions));
            })
        : builder
            .SetPartitionsAssignedHandler((_, partitions) => LogAssigned(logger, string.Join(", ", partitions)))
            .SetPartitionsRevokedHandler((consumer, partitions) =>
            {
                StoreReady(consumer, tracker, logger);
                try
                {
                    consumer.Commit();
                }
                catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_NoOffset)
                {
                }
                catch (KafkaException ex)
                {
                    LogCommitFailed(logger, ex.Error.Reason);
                }

                tracker.Reset();
                LogRevoked(logger, string.Join(", ", partitions));
            })
            .SetPartitionsLostHandler((_, partitions) =>
            {
                tracker.Reset();
                LogRevoked(logger, string.Join(", ", partitions));
            });

    /// <summary>
    /// Runs the loop on a dedicated thread until <paramref name="stop"/>, then completes <paramref name="output"/>,
    /// waits for <paramref name="pipelineDrained"/> and commits the finished offsets. After a failure elsewhere the
    /// caller makes <paramref name="pipelineDrained"/> complete within a bounded time whether or not the stages did.
    /// </summary>
    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The ingest thread boundary: every failure completes the channel and the returned task with it, for the supervisor; a failed pipeline still lets finished offsets be committed.")]
    [SuppressMessage("Reliability", "CA2000:Dispose objects before losing scope", Justification = "The probe token source is disposed by the ingest thread once the probe has ended (finally below), not when this method returns.")]
    public Task RunAsync(IReadOnlyCollection<string> topics, ChannelWriter<InputRecord> output, Task pipelineDrained, CancellationToken stop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var probeStop = new CancellationTokenSource();
        var probe = Task.Run(() => ProbeBrokersAsync(topics.First(), probeStop.Token), CancellationToken.None);

        // The probe borrows the consumer's handle, so it must end before the consumer is closed.
        void StopProbe()
        {
            if (!probe.IsCompleted)
            {
                probeStop.Cancel();
                Task.WaitAny([probe], CancellationToken.None);
            }
        }

        var thread = new Thread(() =>
        {
            try
            {
                Loop(topics, output, stop);
                output.TryComplete();
                // Shutdown: outputs of everything consumed are delivered before the last commit. Meanwhile the
                // consumer keeps polling with every partition paused: a rebalance that another member's exit
                // starts must complete before Close, which otherwise aborts the process inside librdkafka
                // (rd_kafka_cgrp_terminated: assert !rd_kafka_assignment_in_progress; librdkafka#4792).
                PollWhileDraining(pipelineDrained);
                try
                {
                    pipelineDrained.GetAwaiter().GetResult();
                }
                catch (Exception)
                {
                    // A failing pipeline reports through its own task; still commit what was finished.
                }

                if (_transactions is null)
                {
                    StoreReady(_consumer, _tracker, _logger);
                    try
                    {
                        _consumer.Commit();
                    }
                    catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_NoOffset)
                    {
                    }
                }

                StopProbe();
                probe.GetAwaiter().GetResult();

                // Leave the group explicitly (revocation commits again, harmlessly), then close.
                try
                {
                    _consumer.Unsubscribe();
                }
                catch (KafkaException ex)
                {
                    LogCommitFailed(_logger, ex.Error.Reason);
                }

                _consumer.Close();
                done.SetResult();
            }
            catch (Exception ex)
            {
                StopProbe();
                output.TryComplete(ex);
                done.SetException(ex);
            }
            finally
            {
                probeStop.Dispose();
            }
        })
        {
            IsBackground = true,
            Name = "streambert-ingest",
        };
        thread.Start();
        return done.Task;
    }

    private void Loop(IReadOnlyCollection<string> topics, ChannelWriter<InputRecord> output, CancellationToken stop)
    {
        _consumer.Subscribe(topics);
        var lastStore = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            if (_transactions?.TakeRewind() == true)
            {
                Rewind();
            }

            // Before Consume: a record the client already holds is not handed out once the budget is full.
            ApplyBackPressure(stop);
            ConsumeResult<byte[]?, byte[]?>? result;
            var consumeStarted = Stopwatch.GetTimestamp();
            try
            {
                result = _consumer.Consume(TimeSpan.FromMilliseconds(100));
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal)
            {
                LogConsumeError(_logger, ex.Error.Reason);
                continue;
            }

            if (_transactions is null && Stopwatch.GetElapsedTime(lastStore) > TimeSpan.FromMilliseconds(200))
            {
                StoreReady(_consumer, _tracker, _logger);
                lastStore = Stopwatch.GetTimestamp();
            }

            PublishLagIfDue();

            if (result is null || result.IsPartitionEOF || result.Message is null)
            {
                continue;
            }

            var generation = _tracker.Track(result.TopicPartitionOffset);
            var record = new InputRecord(result.TopicPartitionOffset, result.Message.Key, result.Message.Value, result.Message.Headers ?? [], Stopwatch.GetTimestamp(), generation);
            _budget.Admit(record);
            _metrics.RecordConsumed(result.Topic);
            if (_paused)
            {
                // A partition assigned by a rebalance while paused starts unpaused; pausing it as its first record
                // arrives keeps the overshoot to one record per new partition.
                _consumer.Pause([result.TopicPartition]);
            }

            if (output.TryWrite(record))
            {
                _metrics.Stages.Since(PipelineStage.Ingest, consumeStarted);
                continue;
            }

            _metrics.Stages.Since(PipelineStage.Ingest, consumeStarted);
            if (!WaitForRoom(output, record, stop))
            {
                return;
            }
        }
    }

    /// <summary>
    /// When the budget is full: waits up to <see cref="PauseAfter"/> for it to fall below half, and pauses every assigned
    /// partition only if it does not; resumes them once it is below half.
    /// </summary>
    private void ApplyBackPressure(CancellationToken stop)
    {
        if (!_paused && _budget.IsFull)
        {
            if (!WaitBelowHalf(stop))
            {
                Pause();
            }
        }
        else if (_paused && _budget.IsBelowHalf)
        {
            _consumer.Resume(_consumer.Assignment);
            _paused = false;
            _metrics.Progress.IngestResumed();
            LogResumed(_logger, _budget.Snapshot().Bytes);
        }
    }

    /// <summary>
    /// Waits, without polling the consumer, until the budget is below half (true) or <see cref="PauseAfter"/> has passed
    /// or the loop is stopping (false). The budget has no signal of its own: its counters change on four threads with
    /// every record and batch, and reading them every millisecond costs nothing next to a batch.
    /// </summary>
    private bool WaitBelowHalf(CancellationToken stop)
    {
        if (PauseAfter <= TimeSpan.Zero)
        {
            return false;
        }

        var started = Stopwatch.GetTimestamp();
        var lastStore = started;
        _metrics.Progress.IngestWaited();
        while (!_budget.IsBelowHalf)
        {
            if (stop.IsCancellationRequested || Stopwatch.GetElapsedTime(started) >= PauseAfter)
            {
                return false;
            }

            Thread.Sleep(1);
            if (Stopwatch.GetElapsedTime(lastStore) > TimeSpan.FromMilliseconds(200))
            {
                // Offsets finished meanwhile still reach the commit, and lag stays current on /metrics.
                if (_transactions is null)
                {
                    StoreReady(_consumer, _tracker, _logger);
                }

                PublishLagIfDue();
                lastStore = Stopwatch.GetTimestamp();
            }
        }

        return true;
    }

    private void Pause()
    {
        _consumer.Pause(_consumer.Assignment);
        _paused = true;
        _metrics.Progress.IngestPaused();
        var inFlight = _budget.Snapshot();
        LogPaused(_logger, inFlight.Records, inFlight.Bytes, inFlight.Work.TotalSeconds);
    }

    /// <summary>
    /// The first stage's channel is full by count: preprocessing is behind (a fast engine, many small records). Wait for
    /// room without pausing: the wait is short (the stage drains a channel of records in milliseconds), and a pause would
    /// make the client drop what it has prefetched and fetch it again after the resume — measured with the null engine,
    /// each such pause left ingest idle for ~0.8 s and held the drain at ~4,500 msg/s. What the client may prefetch
    /// meanwhile is bounded in bytes (<c>queued.max.messages.kbytes</c>). False when stopped meanwhile: the record is
    /// dropped unforwarded, and since it stays unfinished in the tracker, no offset at or past it is committed; its next
    /// reader repeats it.
    /// </summary>
    private bool WaitForRoom(ChannelWriter<InputRecord> output, InputRecord record, CancellationToken stop)
    {
        var room = output.WaitToWriteAsync(CancellationToken.None).AsTask();
        while (!output.TryWrite(record))
        {
            if (room.IsCompleted)
            {
                room = output.WaitToWriteAsync(CancellationToken.None).AsTask();
            }

            room.Wait(100, CancellationToken.None);
            if (stop.IsCancellationRequested)
            {
                _budget.Withdraw(record);
                return false;
            }

            if (_transactions is null)
            {
                StoreReady(_consumer, _tracker, _logger);
            }

            PublishLagIfDue();
        }

        return true;
    }

    /// <summary>
    /// Exactly-once, after a transaction was aborted without a rebalance: its inputs were consumed already and their offsets
    /// not committed, so every assigned partition goes back to its committed offset. On this thread, with the tracker reset
    /// first, so no record read before the seek is tracked in the new generation (a seek also drops what the client had
    /// prefetched). A rewind that cannot ask for the committed offsets throws: the ingest stage fails and the host stops,
    /// and a restart resumes from the same offsets.
    /// </summary>
    private void Rewind()
    {
        _tracker.Reset();
        var assignment = _consumer.Assignment;
        if (assignment.Count == 0)
        {
            return;
        }

        foreach (var committed in _consumer.Committed(assignment, RewindTimeout))
        {
            var target = committed.Offset.IsSpecial ? ResetOffset : committed.Offset;
            try
            {
                _consumer.Seek(new TopicPartitionOffset(committed.TopicPartition, target));
            }
            catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_State or ErrorCode.Local_UnknownPartition)
            {
                // Not fetching yet (just assigned) or revoked meanwhile: it starts from the committed offset anyway.
            }
        }

        LogRewound(_logger, string.Join(", ", assignment));
    }

    /// <summary>
    /// Lag per assigned partition from the client's cached high watermark (updated by every fetch response)
    /// and its position: no broker round trip, unlike <c>QueryWatermarkOffsets</c>. Position is the next
    /// offset to consume, so records inside the pipeline do not count as lag. While paused no fetch updates the
    /// cache, so the watermarks are asked of the broker (within <see cref="PausedLagQueryBudget"/> per round):
    /// otherwise lag would stand still exactly while the backlog grows.
    /// </summary>
    private void PublishLagIfDue()
    {
        if (Stopwatch.GetElapsedTime(_lagPublishedTicks) < LagInterval)
        {
            return;
        }

        _lagPublishedTicks = Stopwatch.GetTimestamp();
        var assignment = _consumer.Assignment;
        if (_startOffsets.Keys.Any(p => !assignment.Contains(p)))
        {
            // A rebalance happened: a partition assigned again later may start from a newer commit.
            _startOffsets.Clear();
        }

        var lag = new List<PartitionLag>(assignment.Count);
        var started = Stopwatch.GetTimestamp();
        foreach (var partition in assignment)
        {
            try
            {
                var high = _consumer.GetWatermarkOffsets(partition).High;
                if (_paused && Stopwatch.GetElapsedTime(started) < PausedLagQueryBudget)
                {
                    try
                    {
                        high = _consumer.QueryWatermarkOffsets(partition, PausedLagQueryBudget).High;
                    }
                    catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_TimedOut or ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown)
                    {
                        // Brokers away: the cached value is the best there is (readiness reports the outage).
                    }
                }

                var position = _consumer.Position(partition);
                if (position.IsSpecial)
                {
                    // Nothing consumed from it yet (just assigned, or its records still wait in the client's queue behind
                    // other partitions'): its lag counts from where this member starts reading it, not as zero.
                    position = StartOffset(partition, started);
                }

                // Unknown until the first fetch of the partition answered.
                if (high.IsSpecial || position.IsSpecial)
                {
                    continue;
                }

                lag.Add(new PartitionLag(partition.Topic, partition.Partition.Value, Math.Max(0, high.Value - position.Value)));
            }
            catch (KafkaException ex) when (ex.Error.Code is ErrorCode.Local_UnknownPartition or ErrorCode.Local_State)
            {
                // Revoked between reading the assignment and asking about it.
            }
        }

        _metrics.Ingest.PublishLag(lag);
    }

    /// <summary>
    /// Where reading <paramref name="partition"/> starts before anything was consumed from it: its committed offset, or
    /// with none the reset point (the low watermark for earliest). Asked of the broker once per assignment, within the
    /// lag round's time budget; <see cref="Offset.Unset"/> when not known (yet).
    /// </summary>
    private Offset StartOffset(TopicPartition partition, long roundStarted)
    {
        if (_startOffsets.TryGetValue(partition, out var known))
        {
            return known;
        }

        if (Stopwatch.GetElapsedTime(roundStarted) >= PausedLagQueryBudget)
        {
            return Offset.Unset;
        }

        try
        {
            var committed = _consumer.Committed([partition], PausedLagQueryBudget)[0].Offset;
            var start = !committed.IsSpecial ? committed
                : ResetOffset == Offset.Beginning ? _consumer.QueryWatermarkOffsets(partition, PausedLagQueryBudget).Low
                : Offset.Unset;
            if (!start.IsSpecial)
            {
                _startOffsets[partition] = start;
            }

            return start;
        }
        catch (KafkaException ex) when (!ex.Error.IsFatal)
        {
            // Lag is best effort (coordinator moving, brokers away, partition just revoked): ask again next round.
            return Offset.Unset;
        }
    }

    /// <summary>Metadata requests on the consumer's own connections, so "reachable" means reachable by this consumer.</summary>
    private async Task ProbeBrokersAsync(string topic, CancellationToken stop)
    {
        using var admin = new DependentAdminClientBuilder(_consumer.Handle).Build();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // Blocks for at most ProbeTimeout; only one topic's metadata, so cluster size does not matter.
                admin.GetMetadata(topic, ProbeTimeout);
                if (!_metrics.Ingest.Broker.Reachable)
                {
                    LogBrokerReachable(_logger);
                }

                _metrics.Ingest.BrokerReachable();
            }
            catch (KafkaException ex)
            {
                if (_metrics.Ingest.Broker.Reachable)
                {
                    LogBrokerUnreachable(_logger, ex.Error.Reason);
                }

                _metrics.Ingest.BrokerUnreachable(ex.Error.Reason);
            }

            try
            {
                await Task.Delay(ProbeInterval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Serves group events until the pipeline has drained. No record is forwarded: partitions are paused, and a
    /// record that still arrives (from a partition assigned by a rebalance meanwhile) is left unstored, so the
    /// partition's next owner reads it again from the last commit.
    /// </summary>
    private void PollWhileDraining(Task pipelineDrained)
    {
        while (!pipelineDrained.IsCompleted)
        {
            try
            {
                _consumer.Pause(_consumer.Assignment);
                if (_consumer.Consume(TimeSpan.FromMilliseconds(100)) is { } late)
                {
                    _consumer.Pause([late.TopicPartition]);
                }
            }
            catch (KafkaException ex)
            {
                LogConsumeError(_logger, ex.Error.Reason);
                Thread.Sleep(100);
            }
        }
    }

    private static void StoreReady(IConsumer<byte[]?, byte[]?> consumer, OffsetTracker tracker, ILogger logger)
    {
        foreach (var offset in tracker.TakeStorable())
        {
            try
            {
                consumer.StoreOffset(offset);
            }
            catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
            {
                // The partition is no longer assigned; its new owner re-reads from the last commit.
                LogStoreSkipped(logger, offset.ToString());
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transaction aborted: partitions {Partitions} rewound to their committed offsets")]
    private static partial void LogRewound(ILogger logger, string partitions);

    [LoggerMessage(Level = LogLevel.Information, Message = "Partitions assigned: {Partitions}")]
    private static partial void LogAssigned(ILogger logger, string partitions);

    [LoggerMessage(Level = LogLevel.Information, Message = "Partitions revoked: {Partitions}")]
    private static partial void LogRevoked(ILogger logger, string partitions);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Commit on revocation failed: {Reason}")]
    private static partial void LogCommitFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consume error: {Reason}")]
    private static partial void LogConsumeError(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ingest paused: {Records} records, {Bytes} bytes, {WorkSeconds:F2} s of engine work in flight")]
    private static partial void LogPaused(ILogger logger, long records, long bytes, double workSeconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ingest resumed: {Bytes} bytes in flight")]
    private static partial void LogResumed(ILogger logger, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Brokers reachable")]
    private static partial void LogBrokerReachable(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Brokers unreachable: {Reason}")]
    private static partial void LogBrokerUnreachable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Offset {Offset} not stored: partition no longer assigned")]
    private static partial void LogStoreSkipped(ILogger logger, string offset);
}
