using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Diagnostics;

/// <summary>
/// When each stage last moved work (ingest consumed a record, the engine finished a batch, egress had an output
/// acknowledged), what is inside the pipeline now, and how often ingest paused: what liveness and the metrics
/// read. Stamps are single long writes, cheap enough for every record.
/// </summary>
public sealed class PipelineProgress
{
    private readonly TimeProvider _time;
    private long _ingest;
    private long _engine;
    private long _egress;
    private long _pauses;
    private long _waits;
    private long _resumes;
    private int _paused;
    private Func<InFlightSnapshot>? _inFlight;

    public PipelineProgress(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        // Counting from creation: a pipeline that never moved at all is as stuck as one that stopped moving.
        var now = _time.GetTimestamp();
        _ingest = now;
        _engine = now;
        _egress = now;
    }

    public long Pauses => Interlocked.Read(ref _pauses);

    /// <summary>Times ingest found the budget full and waited for it without pausing (a pause may follow the wait).</summary>
    public long Waits => Interlocked.Read(ref _waits);

    public long Resumes => Interlocked.Read(ref _resumes);

    public bool Paused => Volatile.Read(ref _paused) != 0;

    /// <summary>What is inside the pipeline now (nothing before a pipeline is attached).</summary>
    public InFlightSnapshot InFlight => Volatile.Read(ref _inFlight)?.Invoke() ?? default;

    /// <summary>Where <see cref="InFlight"/> reads from: the running pipeline's budget.</summary>
    public void Attach(Func<InFlightSnapshot> inFlight) => Volatile.Write(ref _inFlight, inFlight);

    public void Ingested() => Volatile.Write(ref _ingest, _time.GetTimestamp());

    public void EngineRan() => Volatile.Write(ref _engine, _time.GetTimestamp());

    public void Egressed() => Volatile.Write(ref _egress, _time.GetTimestamp());

    public void IngestWaited() => Interlocked.Increment(ref _waits);

    public void IngestPaused()
    {
        Interlocked.Increment(ref _pauses);
        Volatile.Write(ref _paused, 1);
    }

    public void IngestResumed()
    {
        Interlocked.Increment(ref _resumes);
        Volatile.Write(ref _paused, 0);
    }

    /// <summary>Time since the most recent progress of any of ingest, engine and egress.</summary>
    public TimeSpan SinceLastProgress()
    {
        var last = Math.Max(Volatile.Read(ref _ingest), Math.Max(Volatile.Read(ref _engine), Volatile.Read(ref _egress)));
        return _time.GetElapsedTime(last);
    }
}
