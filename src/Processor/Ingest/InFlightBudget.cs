
namespace StreamBert.Processor.Ingest;

/// <summary>What a processor holds between consume and produce, as the budget counts it.</summary>
/// <param name="Records">Input records admitted and not yet handed to the producer.</param>
/// <param name="Bytes">Their key, value and header bytes.</param>
/// <param name="Tokens">Word pieces admitted and not yet run by the engine (estimated from bytes until tokenized).</param>
/// <param name="Work">Expected engine time of those tokens at the engine's measured rate.</param>
public readonly record struct InFlightSnapshot(long Records, long Bytes, long Tokens, TimeSpan Work);

/// <summary>
/// Bounds the work inside the process in bytes and in expected engine time rather than in records per stage
/// (librdkafka's <c>queued.max.messages.kbytes</c>, TEI's <c>max_batch_tokens</c>): one record can be a thousand
/// times another. Ingest admits a record (its bytes, and tokens estimated from them), Preprocess replaces the
/// estimate with the real token count, the engine subtracts what each batch ran and measures its tokens per
/// second, and the hand-over to the producer returns the bytes. <see cref="IsFull"/> and <see cref="IsBelowHalf"/>
/// give ingest its hysteresis: pause when full, resume below half, so a steady overload costs a pause per
/// half-budget of work, not one per record. Thread-safe: counters are updated with interlocked operations from
/// the ingest, preprocess, engine and egress threads.
/// </summary>
public sealed class InFlightBudget
{
    /// <summary>Bytes per word piece assumed until a record is tokenized (English text runs at about 4-5).</summary>
    private const int BytesPerTokenEstimate = 4;

    /// <summary>[CLS] and [SEP] of the record's first sequence.</summary>
    private const int SpecialTokens = 2;

    /// <summary>Approximate managed overhead of a record beyond its payload (record, headers list, position).</summary>
    private const int RecordOverhead = 256;

    /// <summary>Weight of the past in the engine rate: each batch moves the estimate by about a tenth.</summary>
    private const double RateDecay = 0.9;

    private readonly long _maxBytes;
    private readonly TimeSpan _maxWork;
    private readonly long _minTokens;
    private readonly Lock _rateGate = new();
    private long _records;
    private long _bytes;
    private long _tokens;
    private long _peakBytes;
    private double _ratedTokens;
    private double _ratedSeconds;
    private double _tokensPerSecond;

    /// <param name="maxBytes">Most input bytes inside the process.</param>
    /// <param name="maxWork">Most expected engine time inside the process.</param>
    /// <param name="minTokens">Floor of the token limit whatever the rate (enough to fill a batch, so batching stays efficient on a slow machine).</param>
    /// <param name="initialTokensPerSecond">Rate assumed until the engine has run a batch; a low guess only makes the first second's budget small.</param>
    public InFlightBudget(long maxBytes, TimeSpan maxWork, long minTokens, double initialTokensPerSecond = 2_000)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxWork, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialTokensPerSecond);
        _maxBytes = maxBytes;
        _maxWork = maxWork;
        _minTokens = Math.Max(1, minTokens);
        _tokensPerSecond = initialTokensPerSecond;
    }

    public long MaxBytes => _maxBytes;

    /// <summary>
    /// Tokens the engine finishes per second of wall time while work is waiting, decayed over recent batches: its
    /// share of the CPU beside preprocessing, Kafka and everything else on the machine, not its speed alone — that
    /// is what decides how long admitted work takes to come out.
    /// </summary>
    public double TokensPerSecond => Volatile.Read(ref _tokensPerSecond);

    /// <summary>Most tokens admitted at a time: <c>MaxInFlightWork</c> at the measured rate, at least the floor.</summary>
    public long TokenLimit => Math.Max(_minTokens, (long)(_maxWork.TotalSeconds * TokensPerSecond));

    /// <summary>Highest byte count seen since start.</summary>
    public long PeakBytes => Interlocked.Read(ref _peakBytes);

    public InFlightSnapshot Snapshot()
    {
        var tokens = Interlocked.Read(ref _tokens);
        return new InFlightSnapshot(Interlocked.Read(ref _records), Interlocked.Read(ref _bytes), tokens, TimeSpan.FromSeconds(Math.Max(0, tokens) / TokensPerSecond));
    }

    /// <summary>True when either limit is reached: ingest pauses.</summary>
    public bool IsFull => Interlocked.Read(ref _bytes) >= _maxBytes || Interlocked.Read(ref _tokens) >= TokenLimit;

    /// <summary>True when both are under half their limit: ingest resumes.</summary>
    public bool IsBelowHalf => Interlocked.Read(ref _bytes) < _maxBytes / 2 && Interlocked.Read(ref _tokens) < TokenLimit / 2;

    /// <summary>Bytes a record counts for; a pure function of the record, so admission and release agree.</summary>
    public static long SizeOf(InputRecord record)
    {
        long size = RecordOverhead + (record.Key?.Length ?? 0) + (record.Value?.Length ?? 0);
        foreach (var header in record.Headers)
        {
            size += header.Key.Length + (header.GetValueBytes()?.Length ?? 0);
        }

        return size;
    }

    /// <summary>Tokens a record is assumed to cost until Preprocess has counted them.</summary>
    public static long EstimatedTokens(InputRecord record) => SpecialTokens + ((record.Value?.Length ?? 0) / BytesPerTokenEstimate);

    /// <summary>Ingest consumed <paramref name="record"/>.</summary>
    public void Admit(InputRecord record)
    {
        Interlocked.Increment(ref _records);
        var bytes = Interlocked.Add(ref _bytes, SizeOf(record));
        Interlocked.Add(ref _tokens, EstimatedTokens(record));
        long peak;
        while (bytes > (peak = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, bytes, peak) != peak)
        {
        }
    }

    /// <summary>Preprocess cut <paramref name="record"/> into sequences of <paramref name="tokens"/> word pieces in all (0 when rejected).</summary>
    public void Tokenized(InputRecord record, long tokens) => Interlocked.Add(ref _tokens, tokens - EstimatedTokens(record));

    /// <summary>The engine ran <paramref name="tokens"/> real (unpadded) word pieces in <paramref name="elapsed"/> (engine thread only).</summary>
    public void Ran(long tokens, TimeSpan elapsed)
    {
        Interlocked.Add(ref _tokens, -tokens);
        if (tokens <= 0 || elapsed <= TimeSpan.Zero)
        {
            return;
        }

        // The rate is the engine's own: a batch's tokens over its own wall time (which includes waiting for a CPU
        // that preprocessing shares). Not the time between batches: when the budget itself starves the engine, the
        // gaps would lower the rate, the rate the budget, the budget the feed — a spiral that settled at 40 % of the
        // engine's throughput on 2 cores (streambert bench: 76 msg/s end to end with the engine at 180).
        lock (_rateGate)
        {
            // Tokens over time, both decayed: a long batch weighs by its length, not as one sample among many.
            _ratedTokens = (_ratedTokens * RateDecay) + tokens;
            _ratedSeconds = (_ratedSeconds * RateDecay) + elapsed.TotalSeconds;
            Volatile.Write(ref _tokensPerSecond, _ratedTokens / _ratedSeconds);
        }
    }

    /// <summary><paramref name="record"/> left the pipeline (its outputs are with the producer), or was dropped at shutdown.</summary>
    public void Release(InputRecord record)
    {
        Interlocked.Decrement(ref _records);
        Interlocked.Add(ref _bytes, -SizeOf(record));
    }

    /// <summary>A record dropped before Preprocess saw it: its bytes and its token estimate return.</summary>
    public void Withdraw(InputRecord record)
    {
        Interlocked.Add(ref _tokens, -EstimatedTokens(record));
        Release(record);
    }
}
