using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using StreamBert.Processor.Diagnostics;

namespace StreamBert.Cli.Bench;

/// <summary>
/// Listens to the processor's <c>streambert_inference_seconds</c> histogram (one measurement per batch,
/// recorded right after ModelSet.Run returns) and keeps (end time, duration) pairs, so the bench can tell
/// how busy the engine thread was inside any time window — without touching the processor.
/// An engine busy ~100% of the time means the pipeline is engine-bound (the engine itself runs slower
/// next to the other stages); a lower share means it waits for batches (ingest, batcher, channels).
/// </summary>
internal sealed class EngineBusyListener : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(long EndTicks, double Seconds)> _batches = new();

    public EngineBusyListener()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ProcessorMetrics.MeterName && instrument.Name == "streambert_inference_seconds")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, seconds, _, _) => _batches.Enqueue((Stopwatch.GetTimestamp(), seconds)));
        _listener.Start();
    }

    public void Clear() => _batches.Clear();

    /// <summary>Engine seconds inside [<paramref name="fromTicks"/>, <paramref name="toTicks"/>], clipping batches that straddle an edge.</summary>
    public double BusySeconds(long fromTicks, long toTicks)
    {
        var busy = 0.0;
        foreach (var (end, seconds) in _batches)
        {
            var start = end - (long)(seconds * Stopwatch.Frequency);
            var overlap = Math.Min(end, toTicks) - Math.Max(start, fromTicks);
            if (overlap > 0)
            {
                busy += (double)overlap / Stopwatch.Frequency;
            }
        }

        return busy;
    }

    public void Dispose() => _listener.Dispose();
}
