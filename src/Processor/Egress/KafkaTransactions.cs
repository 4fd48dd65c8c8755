using System.Collections.Concurrent;
using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Egress;

/// <summary>How <see cref="KafkaTransactions.Enlist"/> disposed of an output set.</summary>
public enum Enlistment
{
    /// <summary>Produced into the open transaction.</summary>
    Produced,

    /// <summary>Its input lies beyond the run the closing transaction waits for: produce it after that commit.</summary>
    Held,

    /// <summary>Consumed before the last abort or rebalance: its input is consumed again, so it is not produced.</summary>
    Stale,
}

/// <summary>
/// Exactly-once consume-transform-produce (<c>Processor:Delivery=ExactlyOnce</c>): outputs, dead letters and the input
/// offsets that caused them commit in one Kafka transaction (<c>SendOffsetsToTransaction</c> with the consumer's group
/// metadata, so a zombie of an older group generation is fenced, KIP-447).
/// <para>
/// Why a transaction waits before it commits: records finish out of order, and a transaction's offsets can only be the
/// contiguous finished run per partition (<see cref="OffsetTracker"/>). Committing that run while the transaction also
/// holds outputs of inputs beyond a gap would publish those outputs ahead of their offsets; a crash would then consume
/// those inputs again and publish them twice. So once <see cref="CommitInterval"/> has passed the transaction is
/// <em>closing</em>: its frontier (highest input offset with outputs in it, per partition) is fixed, sets at or below
/// the frontier (the gaps) are still produced into it, sets beyond it are held back, and it commits only when the
/// tracker's contiguous run reaches past the frontier on every partition — then the offsets sent are exactly that run
/// and every output in the transaction belongs to an input inside it. The held sets open the next transaction. Holding
/// costs at most the time the gap inputs take to come through the pipeline.
/// </para>
/// <para>
/// Failures: a rebalance (<see cref="Abort"/> from the revocation handler) or an abortable transaction error aborts the
/// open transaction; its inputs' offsets were not committed, so they are consumed again — after an error by a rewind the
/// ingest thread performs (<see cref="TakeRewind"/>): seek to the committed offsets. Sets consumed before the abort are
/// <see cref="Enlistment.Stale"/> and never produced. A record the broker refuses (too large) aborts its transaction and is
/// remembered, so after the rewind its input goes to the dead-letter topic instead of failing again. Fatal errors
/// (fenced, or an abort that itself fails) throw to the caller, whose stage failure stops the host with exit code 1.
/// Every transactional call is bounded by <see cref="CallTimeout"/>.
/// </para>
/// Thread-safety: the egress stage calls <see cref="Enlist"/> and <see cref="Tick"/>, the consumer thread calls
/// <see cref="Abort"/> on revocation, the producer's delivery thread calls <see cref="Refused"/>; one lock orders the
/// transactional calls, which librdkafka does not allow concurrently.
/// </summary>
public sealed partial class KafkaTransactions
{
    /// <summary>Retriable failures of a commit tolerated before the transaction is aborted instead.</summary>
    private const int MaxCommitAttempts = 3;

    private readonly IProducer<byte[]?, byte[]> _producer;
    private readonly OffsetTracker _tracker;
    private readonly Func<IConsumerGroupMetadata> _groupMetadata;
    private readonly ProcessorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<TopicPartitionOffset, string> _refused = new();
    private Transaction? _open;
    private int _staleBelow;
    private long _nextId;
    private volatile bool _rewind;

    /// <param name="producer">A producer with <c>transactional.id</c> set, <c>InitTransactions</c> already called.</param>
    /// <param name="groupMetadata">The consumer's <c>ConsumerGroupMetadata</c>, read at each commit (it changes with the generation).</param>
    public KafkaTransactions(IProducer<byte[]?, byte[]> producer, OffsetTracker tracker, Func<IConsumerGroupMetadata> groupMetadata, TimeSpan commitInterval, ProcessorMetrics metrics, ILogger logger, TimeSpan? callTimeout = null)
    {
        _producer = producer;
        _tracker = tracker;
        _groupMetadata = groupMetadata;
        CommitInterval = commitInterval;
        _metrics = metrics;
        _logger = logger;
        CallTimeout = callTimeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>How long a transaction stays open before it starts closing.</summary>
    public TimeSpan CommitInterval { get; }

    /// <summary>Bound of each transactional call (begin, send offsets, commit, abort): none may hang the pipeline.</summary>
    public TimeSpan CallTimeout { get; }

    /// <summary>Raised after each commit with the offsets committed in it (next offset to read per partition); for tests and logs.</summary>
    public event Action<IReadOnlyList<TopicPartitionOffset>>? Committed;

    /// <summary>Raised after each abort with the reason.</summary>
    public event Action<string>? Aborted;

    /// <summary>True while a transaction is open and not closing: held sets can be enlisted.</summary>
    public bool Accepting
    {
        get
        {
            lock (_gate)
            {
                return _open is not { Closing: true };
            }
        }
    }

    /// <summary>True while a transaction is open.</summary>
    public bool Open
    {
        get
        {
            lock (_gate)
            {
                return _open is not null;
            }
        }
    }

    /// <summary>
    /// Produces <paramref name="set"/>'s records into the open transaction through <paramref name="produce"/> (beginning
    /// one if none is open), unless its input is stale or lies beyond the frontier of a closing transaction. Runs
    /// <paramref name="produce"/> under the lock, so an abort cannot interleave with a half-produced set.
    /// </summary>
    public Enlistment Enlist(InputRecord input, Action<Transaction> produce)
    {
        lock (_gate)
        {
            if (input.Generation < _staleBelow || input.Generation != _tracker.Generation)
            {
                return Enlistment.Stale;
            }

            var partition = input.Position.TopicPartition;
            var offset = input.Position.Offset.Value;
            if (_open is { Closing: true } closing && (!closing.Frontier.TryGetValue(partition, out var frontier) || offset > frontier))
            {
                return Enlistment.Held;
            }

            if (_open is null)
            {
                _producer.BeginTransaction();
                _open = new Transaction(++_nextId, Stopwatch.GetTimestamp());
            }

            if (!_open.Frontier.TryGetValue(partition, out var highest) || offset > highest)
            {
                _open.Frontier[partition] = offset;
            }

            produce(_open);
            return Enlistment.Produced;
        }
    }

    /// <summary>The reason a record of this input was refused by the broker in an aborted transaction, if one was.</summary>
    public string? RefusalOf(TopicPartitionOffset input) => _refused.GetValueOrDefault(input);

    /// <summary>
    /// From the delivery thread: the broker refused a record of <paramref name="input"/> in <paramref name="transaction"/>.
    /// The transaction cannot commit that input's outputs; the next <see cref="Tick"/> aborts it and requests a rewind.
    /// </summary>
    public void Refused(Transaction transaction, TopicPartitionOffset input, string reason)
    {
        _refused[input] = reason;
        transaction.Doom(reason);
    }

    /// <summary>
    /// Called by egress on every turn: aborts a doomed transaction (and requests a rewind), starts closing one open for
    /// <see cref="CommitInterval"/> (or at once when <paramref name="final"/>), and commits a closing one whose frontier the
    /// contiguous finished run covers. True when no transaction is open or closing any more (held sets may go).
    /// </summary>
    public bool Tick(bool final = false)
    {
        lock (_gate)
        {
            if (_open is null)
            {
                return true;
            }

            if (_open.DoomedBy is { } reason)
            {
                AbortLocked(reason, rewind: true);
                return true;
            }

            if (!_open.Closing && (final || Stopwatch.GetElapsedTime(_open.OpenedAt) >= CommitInterval))
            {
                _open.Closing = true;
            }

            if (!_open.Closing || !Covered(_open, out var offsets))
            {
                return false;
            }

            CommitLocked(_open, offsets);
            return _open is null;
        }
    }

    /// <summary>
    /// Aborts the open transaction, if any, from the revocation or lost handler or the shutdown path: its inputs are
    /// consumed again by whoever owns their partitions next. Sets consumed until now are stale.
    /// </summary>
    public void Abort(string reason)
    {
        lock (_gate)
        {
            _staleBelow = Math.Max(_staleBelow, _tracker.Generation + 1);
            if (_open is not null)
            {
                AbortLocked(reason, rewind: false);
            }
        }
    }

    /// <summary>For the ingest thread: true once after an abort that needs the consumer rewound to the committed offsets.</summary>
    public bool TakeRewind()
    {
        if (!_rewind)
        {
            return false;
        }

        _rewind = false;
        return true;
    }

    /// <summary>The tracker's contiguous run reaches past the frontier on every partition: the offsets to commit, per partition.</summary>
    private bool Covered(Transaction transaction, out List<TopicPartitionOffset> offsets)
    {
        offsets = new List<TopicPartitionOffset>(transaction.Frontier.Count);
        foreach (var (partition, highest) in transaction.Frontier)
        {
            var ready = _tracker.Ready(partition);
            if (ready <= highest)
            {
                return false;
            }

            // Nothing beyond the frontier is produced while closing, so nothing beyond it can have finished.
            Debug.Assert(ready == highest + 1, "An input beyond the frontier finished while the transaction was closing.");
            offsets.Add(new TopicPartitionOffset(partition, ready));
        }

        return true;
    }

    private void CommitLocked(Transaction transaction, List<TopicPartitionOffset> offsets)
    {
        try
        {
            if (!transaction.OffsetsSent)
            {
                _producer.SendOffsetsToTransaction(offsets, _groupMetadata(), CallTimeout);
                transaction.OffsetsSent = true;
            }

            _producer.CommitTransaction(CallTimeout);
        }
        catch (KafkaTxnRequiresAbortException ex)
        {
            AbortLocked($"commit needs an abort: {ex.Error.Reason}", rewind: true);
            return;
        }
        catch (KafkaRetriableException ex)
        {
            // Calling the same method again resumes it (Confluent.Kafka's documented contract); give up after a few.
            if (++transaction.CommitAttempts < MaxCommitAttempts)
            {
                LogCommitRetry(_logger, transaction.Id, ex.Error.Reason);
                return;
            }

            AbortLocked($"commit kept failing: {ex.Error.Reason}", rewind: true);
            return;
        }

        _open = null;
        _metrics.RecordTransaction(committed: true);
        LogCommitted(_logger, transaction.Id, string.Join(", ", offsets));
        Committed?.Invoke(offsets);
    }

    /// <summary>
    /// Aborts the open transaction. Its delivery reports (purged records) are ignored from here on. A fatal error, or an
    /// abort that keeps timing out, throws: the transaction's state is unknown and only a restart (whose InitTransactions
    /// fences this producer and aborts what it left open) is safe.
    /// </summary>
    private void AbortLocked(string reason, bool rewind)
    {
        var transaction = _open!;
        transaction.Aborted = true;
        _staleBelow = Math.Max(_staleBelow, _tracker.Generation + 1);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                _producer.AbortTransaction(CallTimeout);
                break;
            }
            catch (KafkaRetriableException ex) when (attempt < MaxCommitAttempts)
            {
                LogAbortRetry(_logger, transaction.Id, ex.Error.Reason);
            }
        }

        _open = null;
        _metrics.RecordTransaction(committed: false);
        LogAborted(_logger, transaction.Id, reason);
        if (rewind)
        {
            _rewind = true;
        }

        Aborted?.Invoke(reason);
    }

    /// <summary>One Kafka transaction of this producer; delivery reports carry it, so those of an aborted one are ignored.</summary>
    public sealed class Transaction(long id, long openedAt)
    {
        private string? _doomedBy;

        public long Id { get; } = id;
        internal long OpenedAt { get; } = openedAt;

        /// <summary>Highest input offset with outputs in this transaction, per partition.</summary>
        internal Dictionary<TopicPartition, long> Frontier { get; } = [];

        internal bool Closing { get; set; }
        internal bool OffsetsSent { get; set; }
        internal int CommitAttempts { get; set; }

        /// <summary>Set once the transaction is aborted: its records are purged or never visible to read_committed readers.</summary>
        public bool Aborted { get => Volatile.Read(ref _aborted); internal set => Volatile.Write(ref _aborted, value); }

        private bool _aborted;

        internal string? DoomedBy => Volatile.Read(ref _doomedBy);

        /// <summary>A record of it was refused: it will be aborted, never committed.</summary>
        public bool Doomed => DoomedBy is not null;

        internal void Doom(string reason) => Interlocked.CompareExchange(ref _doomedBy, reason, null);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Transaction {Id} committed with offsets {Offsets}")]
    private static partial void LogCommitted(ILogger logger, long id, string offsets);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transaction {Id} aborted ({Reason}); its inputs are consumed again")]
    private static partial void LogAborted(ILogger logger, long id, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Committing transaction {Id} failed ({Reason}); retrying")]
    private static partial void LogCommitRetry(ILogger logger, long id, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Aborting transaction {Id} failed ({Reason}); retrying")]
    private static partial void LogAbortRetry(ILogger logger, long id, string reason);
}
