using System.Globalization;
using StreamBert.Service.Diagnostics;

namespace StreamBert.Processor.Diagnostics;

/// <summary>
/// Liveness of a processor means progress (Kubernetes probe guidance; TEI's <c>/health</c> asks its backend): it
/// is stalled when the brokers answer, work is waiting — records inside the pipeline, or consumer lag — and
/// neither ingest, the engine nor egress moved anything for <c>timeout</c>. An idle processor is alive, and so is
/// one whose brokers are away: restarting it would only add a rebalance to the outage (readiness reports that).
/// Kept apart from <see cref="ProcessorHealth"/> (readiness) so each can change without the other.
/// </summary>
public sealed class ProcessorLiveness : ILivenessProbe
{
    private readonly PipelineProgress _progress;
    private readonly IngestStatus _ingest;
    private readonly TimeSpan _timeout;

    public ProcessorLiveness(PipelineProgress progress, IngestStatus ingest, TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        _progress = progress;
        _ingest = ingest;
        _timeout = timeout;
    }

    public LivenessReport Liveness()
    {
        // Without brokers nothing can move (egress cannot deliver, ingest cannot fetch): readiness' concern.
        if (!_ingest.Broker.Reachable)
        {
            return new LivenessReport(true, "brokers unreachable");
        }

        var inFlight = _progress.InFlight;
        long lag = 0;
        foreach (var partition in _ingest.Lag)
        {
            lag += partition.Lag;
        }

        if (inFlight.Records <= 0 && lag <= 0)
        {
            return new LivenessReport(true, "idle");
        }

        var since = _progress.SinceLastProgress();
        if (since <= _timeout)
        {
            return new LivenessReport(true, "progressing");
        }

        return new LivenessReport(false, string.Create(CultureInfo.InvariantCulture,
            $"stalled: {inFlight.Records} records ({inFlight.Bytes} bytes) in the pipeline, consumer lag {lag}, no progress of ingest, engine or egress for {since.TotalSeconds:F0} s (limit {_timeout.TotalSeconds:F0} s)"));
    }
}
