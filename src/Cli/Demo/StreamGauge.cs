using StreamBert.Processor.Diagnostics;
using StreamBert.Trainer;

namespace StreamBert.Cli.Demo;

/// <summary>The stream's vital signs at one moment.</summary>
internal sealed record StreamReading(
    double InRate, double OutRate, double P50, double P99, long Lag, double BatchSize, double Padding, long Produced, long DeadLettered);

/// <summary>Everything the dashboard, the plain lines and the summary read.</summary>
internal sealed record DemoContext(DemoOptions Options, DemoState State, ProcessorMetrics Metrics, TrainerService Trainer, string Device, bool WithArticles, Uri Desk)
{
    /// <summary>Labels the trainer holds and how many of them are not trained on yet.</summary>
    public (int Held, long Pending) TrainerLabels()
    {
        var held = Trainer.LabelCounts.GetValueOrDefault(StreamBert.Contracts.TaskNames.Spam);
        return (held, Math.Max(0, held - State.LabelsTrainedOn));
    }
}

/// <summary>Input and output rates over the last ten seconds, plus the processor's own gauges. One reader thread.</summary>
internal sealed class StreamGauge(DemoState state, ProcessorMetrics metrics)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private readonly Queue<(TimeSpan At, long Fed, long Produced)> _samples = new();

    public StreamReading Read()
    {
        var now = state.Clock.Elapsed;
        var produced = metrics.Produced;
        _samples.Enqueue((now, state.Fed, produced));
        while (_samples.Count > 2 && now - _samples.Peek().At > Window)
        {
            _samples.Dequeue();
        }

        var first = _samples.Peek();
        var seconds = (now - first.At).TotalSeconds;
        var (p50, p99) = metrics.RecentLatencyMs;
        var lag = 0L;
        foreach (var partition in metrics.Ingest.Lag)
        {
            lag += Math.Max(0, partition.Lag);
        }

        return new StreamReading(
            seconds < 0.5 ? 0 : (state.Fed - first.Fed) / seconds,
            seconds < 0.5 ? 0 : (produced - first.Produced) / seconds,
            p50, p99, lag, metrics.MeanBatchSize, metrics.PaddingRatio, produced, metrics.DeadLettered);
    }
}
