using System.Diagnostics.Metrics;
using StreamBert.Processor.Batching;

namespace StreamBert.Processor.Diagnostics;

/// <summary>
/// The processor's instruments (Meter <c>StreamBert.Processor</c>) plus running totals that the demo and
/// benchmarks read directly without a metrics exporter.
/// </summary>
public sealed class ProcessorMetrics : IDisposable
{
    public const string MeterName = "StreamBert.Processor";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _consumed;
    private readonly Counter<long> _produced;
    private readonly Counter<long> _deadLettered;
    private readonly Histogram<int> _batchTokens;
    private readonly Histogram<double> _padding;
    private readonly Histogram<double> _inference;
    private readonly Histogram<double> _latency;
    private readonly LatencyWindow _recentLatency = new(4096);
    private long _consumedTotal;
    private long _producedTotal;
    private long _deadLetteredTotal;
    private long _batches;
    private long _sequences;
    private long _realTokens;
    private long _paddedTokens;

    public ProcessorMetrics()
    {
        _consumed = _meter.CreateCounter<long>("streambert_records_consumed", description: "Input records consumed");
        _produced = _meter.CreateCounter<long>("streambert_records_produced", description: "Output records acknowledged by the broker");
        _deadLettered = _meter.CreateCounter<long>("streambert_records_dead_lettered", description: "Inputs sent to a dead-letter topic");
        _batchTokens = _meter.CreateHistogram<int>("streambert_batch_tokens", description: "Padded tokens per encoder batch");
        _padding = _meter.CreateHistogram<double>("streambert_batch_padding_ratio", description: "Share of padding in a batch");
        _inference = _meter.CreateHistogram<double>("streambert_inference_seconds", unit: "s", description: "Encoder + heads time per batch");
        _latency = _meter.CreateHistogram<double>("streambert_end_to_end_seconds", unit: "s", description: "Consume to output acknowledged");
    }

    public long Consumed => Interlocked.Read(ref _consumedTotal);
    public long Produced => Interlocked.Read(ref _producedTotal);
    public long DeadLettered => Interlocked.Read(ref _deadLetteredTotal);
    public long Batches => Interlocked.Read(ref _batches);
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
        _consumed.Add(1, new KeyValuePair<string, object?>("topic", topic));
    }

    public void RecordProduced(string topic)
    {
        Interlocked.Increment(ref _producedTotal);
        _produced.Add(1, new KeyValuePair<string, object?>("topic", topic));
    }

    public void RecordDeadLetter(string topic)
    {
        Interlocked.Increment(ref _deadLetteredTotal);
        _deadLettered.Add(1, new KeyValuePair<string, object?>("topic", topic));
    }

    public void RecordBatch(SequenceBatch batch, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _sequences, batch.Items.Count);
        Interlocked.Add(ref _realTokens, batch.RealTokens);
        Interlocked.Add(ref _paddedTokens, batch.PaddedTokens);
        _batchTokens.Record(batch.PaddedTokens);
        _padding.Record(batch.PaddingRatio);
        _inference.Record(elapsed.TotalSeconds);
    }

    public void RecordLatency(TimeSpan latency)
    {
        _latency.Record(latency.TotalSeconds);
        _recentLatency.Add(latency.TotalMilliseconds);
    }

    public void Dispose() => _meter.Dispose();

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
