using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using StreamBert.Contracts;
using StreamBert.Processor.Batching;

namespace StreamBert.Processor.Diagnostics;

/// <summary>
/// The processor's instruments (Meter <c>StreamBert.Processor</c>) plus running totals that the demo and
/// benchmarks read directly without a metrics exporter. Observable instruments (consumer lag, broker
/// reachability, served model versions, swaps) are read at scrape time, so nothing per message feeds them.
/// </summary>
public sealed class ProcessorMetrics : IDisposable
{
    public const string MeterName = "StreamBert.Processor";

    // 1.5 and 2 s: the latency bound under overload is about one second of queued work plus a batch, and a p99
    // read from the buckets should tell 2 s from 2.5 s.
    private static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 5, 10, 30];

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _consumed;
    private readonly Counter<long> _produced;
    private readonly Counter<long> _deadLettered;
    private readonly Histogram<int> _batchTokens;
    private readonly Histogram<double> _padding;
    private readonly Histogram<double> _inference;
    private readonly Histogram<double> _latency;
    private readonly LatencyWindow _recentLatency = new(4096);
    private readonly Func<IReadOnlyDictionary<string, BundleManifest>?> _servedBundles;
    private readonly ConcurrentDictionary<string, long> _swaps = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Bundle, string Reason), long> _refusedSwaps = new();
    private long _consumedTotal;
    private long _producedTotal;
    private long _deadLetteredTotal;
    private long _batches;
    private long _sequences;
    private long _realTokens;
    private long _paddedTokens;

    /// <param name="servedBundles">The bundles being served now (null before the models are loaded); read at scrape time.</param>
    /// <param name="time">Clock of <see cref="Ingest"/>'s broker contact times.</param>
    private long _transactionsCommitted;
    private long _transactionsAborted;

    public ProcessorMetrics(Func<IReadOnlyDictionary<string, BundleManifest>?>? servedBundles = null, TimeProvider? time = null)
    {
        _servedBundles = servedBundles ?? (static () => null);
        Ingest = new IngestStatus(time);
        Progress = new PipelineProgress(time);
        _consumed = _meter.CreateCounter<long>("streambert_records_consumed", description: "Input records consumed");
        _produced = _meter.CreateCounter<long>("streambert_records_produced", description: "Output records acknowledged by the broker");
        _deadLettered = _meter.CreateCounter<long>("streambert_records_dead_lettered", description: "Inputs sent to a dead-letter topic");
        // Bucket advice: exporters' default buckets (0, 5, 10, 25 … 10000) suit milliseconds, and would put every
        // batch time and padding share into the first bucket.
        _batchTokens = _meter.CreateHistogram("streambert_batch_tokens", description: "Padded tokens per encoder batch",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768] });
        _padding = _meter.CreateHistogram("streambert_batch_padding_ratio", description: "Share of padding in a batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] });
        _inference = _meter.CreateHistogram("streambert_inference_seconds", unit: "s", description: "Encoder + heads time per batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _latency = _meter.CreateHistogram("streambert_end_to_end_seconds", unit: "s", description: "Consume to output acknowledged",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _meter.CreateObservableCounter("streambert_stage_busy_seconds", ObserveStageBusy, unit: "s", description: "Time each pipeline stage spent working, not waiting on a channel (preprocess: summed over its workers)");
        _meter.CreateObservableCounter("streambert_transactions_committed", () => TransactionsCommitted, description: "Kafka transactions committed (Processor:Delivery=ExactlyOnce): outputs and input offsets together");
        _meter.CreateObservableCounter("streambert_transactions_aborted", () => TransactionsAborted, description: "Kafka transactions aborted (rebalance, transaction error, a record the broker refused); their inputs are consumed again");
        _meter.CreateObservableGauge("streambert_consumer_lag", ObserveLag, description: "Records not yet consumed per assigned partition (high watermark - position)");
        _meter.CreateObservableGauge("streambert_inflight_records", () => Progress.InFlight.Records, description: "Input records inside the processor (consumed, not yet handed to the producer)");
        _meter.CreateObservableGauge("streambert_inflight_bytes", () => Progress.InFlight.Bytes, unit: "By", description: "Bytes of the input records inside the processor (bounded by Processor:MaxInFlightBytes)");
        _meter.CreateObservableGauge("streambert_inflight_work_seconds", () => Progress.InFlight.Work.TotalSeconds, unit: "s", description: "Expected engine time of the work inside the processor (bounded by Processor:MaxInFlightWork)");
        _meter.CreateObservableGauge("streambert_ingest_paused", () => Progress.Paused ? 1 : 0, description: "1 while ingest has paused its partitions because the in-flight budget is full");
        _meter.CreateObservableCounter("streambert_ingest_pauses", () => Progress.Pauses, description: "Times ingest paused its partitions (resumes below half the budget)");
        _meter.CreateObservableCounter("streambert_ingest_budget_waits", () => Progress.Waits, description: "Times ingest found the in-flight budget full and waited for it without pausing (up to Processor:PauseAfter, then it pauses)");
        _meter.CreateObservableGauge("streambert_broker_reachable", () => Ingest.Broker.Reachable ? 1 : 0, description: "1 when a broker answered the last metadata probe");
        _meter.CreateObservableGauge("streambert_model_info", ObserveModels, description: "1 per served bundle version");
        _meter.CreateObservableCounter("streambert_model_swaps", () => ObservePerBundle(_swaps), description: "Model versions swapped in while running");
        _meter.CreateObservableCounter("streambert_model_swaps_refused", ObserveRefusedSwaps,
            description: "Model events not swapped in, by bundle (\"unknown\" when not served) and reason: malformed, missing, path, hash, downgrade, verification, load, error");
    }

    /// <summary>Consumer lag and broker reachability, published by the ingest stage; also what readiness reads.</summary>
    public IngestStatus Ingest { get; }

    /// <summary>Busy time per stage (what bounds throughput), also exported as <c>streambert_stage_busy_seconds</c>.</summary>
    public StageBusy Stages { get; } = new();

    /// <summary>Progress of the stages, what is in flight and ingest's pauses; what liveness reads.</summary>
    public PipelineProgress Progress { get; }

    public long Consumed => Interlocked.Read(ref _consumedTotal);
    public long Produced => Interlocked.Read(ref _producedTotal);
    public long DeadLettered => Interlocked.Read(ref _deadLetteredTotal);
    public long Batches => Interlocked.Read(ref _batches);
    public long TransactionsCommitted => Interlocked.Read(ref _transactionsCommitted);
    public long TransactionsAborted => Interlocked.Read(ref _transactionsAborted);

    public void RecordTransaction(bool committed) => Interlocked.Increment(ref committed ? ref _transactionsCommitted : ref _transactionsAborted);
    public long Sequences => Interlocked.Read(ref _sequences);

    /// <summary>Mean padding share over all batches so far.</summary>
    public double PaddingRatio
    {
        get
        {
            var padded = Interlocked.Read(ref _paddedTokens);
            return padded == 0 ? 0 : 1.0 - ((double)Interlocked.Read(ref _realTokens) / padded);
        }
    }

    public double MeanBatchSize => Batches == 0 ? 0 : (double)Sequences / Batches;

    /// <summary>p50/p99 of the most recent end-to-end latencies, in milliseconds.</summary>
    public (double P50, double P99) RecentLatencyMs => _recentLatency.Percentiles();

    public void RecordConsumed(string topic)
    {
        Interlocked.Increment(ref _consumedTotal);
        Progress.Ingested();
        _consumed.Add(1, new KeyValuePair<string, object?>("topic", topic));
    }

    public void RecordProduced(string topic)
    {
        Interlocked.Increment(ref _producedTotal);
        Progress.Egressed();
        _produced.Add(1, new KeyValuePair<string, object?>("topic", topic));
    }

    public void RecordDeadLetter(string topic)
    {
        Interlocked.Increment(ref _deadLetteredTotal);
        Progress.Egressed();
        _deadLettered.Add(1, new KeyValuePair<string, object?>("topic", topic));
    }

    public void RecordBatch(SequenceBatch batch, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _batches);
        Progress.EngineRan();
        Interlocked.Add(ref _sequences, batch.Items.Count);
        Interlocked.Add(ref _realTokens, batch.RealTokens);
        Interlocked.Add(ref _paddedTokens, batch.PaddedTokens);
        _batchTokens.Record(batch.PaddedTokens);
        _padding.Record(batch.PaddingRatio);
        _inference.Record(elapsed.TotalSeconds);
        Stages.Add(PipelineStage.Engine, elapsed.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond);
    }

    public void RecordLatency(TimeSpan latency)
    {
        _latency.Record(latency.TotalSeconds);
        _recentLatency.Add(latency.TotalMilliseconds);
    }

    /// <summary>A new version of <paramref name="bundle"/> is being served.</summary>
    public void RecordSwap(string bundle) => _swaps.AddOrUpdate(bundle, 1, static (_, n) => n + 1);

    /// <summary>
    /// A model event for <paramref name="bundle"/> was refused for <paramref name="reason"/> (one of a fixed set of codes,
    /// <c>SwapRefusal</c>; the caller passes only served bundle names or "unknown", so labels stay few).
    /// </summary>
    public void RecordRefusedSwap(string bundle, string reason) => _refusedSwaps.AddOrUpdate((bundle, reason), 1, static (_, n) => n + 1);

    /// <summary>Refused model events with <paramref name="reason"/> so far, all bundles together.</summary>
    public long RefusedSwaps(string reason) => _refusedSwaps.Where(r => r.Key.Reason == reason).Sum(r => r.Value);

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<double>> ObserveStageBusy()
    {
        foreach (var (stage, seconds) in Stages.Snapshot())
        {
            yield return new Measurement<double>(seconds, new KeyValuePair<string, object?>("stage", stage.ToString().ToLowerInvariant()));
        }
    }

    private IEnumerable<Measurement<long>> ObserveLag()
    {
        foreach (var lag in Ingest.Lag)
        {
            yield return new Measurement<long>(lag.Lag, new KeyValuePair<string, object?>("topic", lag.Topic), new KeyValuePair<string, object?>("partition", lag.Partition));
        }
    }

    private IEnumerable<Measurement<int>> ObserveModels()
    {
        foreach (var (name, manifest) in _servedBundles() ?? new Dictionary<string, BundleManifest>())
        {
            yield return new Measurement<int>(1, new KeyValuePair<string, object?>("bundle", name), new KeyValuePair<string, object?>("version", manifest.Version));
        }
    }

    /// <summary>Every served bundle reports a count, 0 included, so a dashboard sees the series before the first swap.</summary>
    private IEnumerable<Measurement<long>> ObservePerBundle(ConcurrentDictionary<string, long> counts)
    {
        var bundles = new HashSet<string>(counts.Keys, StringComparer.Ordinal);
        if (_servedBundles() is { } served)
        {
            bundles.UnionWith(served.Keys);
        }

        foreach (var bundle in bundles)
        {
            yield return new Measurement<long>(counts.GetValueOrDefault(bundle), new KeyValuePair<string, object?>("bundle", bundle));
        }
    }

    /// <summary>Every served bundle reports every reason, 0 included, so an alert on any of them has a series to watch.</summary>
    private IEnumerable<Measurement<long>> ObserveRefusedSwaps()
    {
        var keys = new HashSet<(string Bundle, string Reason)>(_refusedSwaps.Keys);
        foreach (var bundle in _servedBundles()?.Keys ?? [])
        {
            foreach (var reason in Inference.SwapRefusal.All)
            {
                keys.Add((bundle, reason));
            }
        }

        foreach (var key in keys)
        {
            yield return new Measurement<long>(_refusedSwaps.GetValueOrDefault(key), new("bundle", key.Bundle), new("reason", key.Reason));
        }
    }

    /// <summary>A ring of recent samples; percentiles are computed on read (rare) rather than per sample.</summary>
    private sealed class LatencyWindow(int capacity)
    {
        private readonly double[] _samples = new double[capacity];
        private readonly Lock _gate = new();
        private int _count;
        private int _next;

        public void Add(double value)
        {
            lock (_gate)
            {
                _samples[_next] = value;
                _next = (_next + 1) % _samples.Length;
                _count = Math.Min(_count + 1, _samples.Length);
            }
        }

        public (double P50, double P99) Percentiles()
        {
            double[] copy;
            lock (_gate)
            {
                copy = _samples[.._count];
            }

            if (copy.Length == 0)
            {
                return (0, 0);
            }

            Array.Sort(copy);
            return (copy[(int)(0.50 * (copy.Length - 1))], copy[(int)(0.99 * (copy.Length - 1))]);
        }
    }
}
