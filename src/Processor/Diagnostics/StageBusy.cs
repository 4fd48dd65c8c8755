using System.Diagnostics;

namespace StreamBert.Processor.Diagnostics;

/// <summary>The stages of the pipeline, in data-flow order.</summary>
public enum PipelineStage
{
    Ingest,
    Preprocess,
    Batching,
    Engine,
    Postprocess,
    Egress,
}

/// <summary>
/// Time each stage spent working, not waiting on a channel: a stage whose busy time is close to the wall time (per
/// thread it runs on) is the one that bounds throughput. Each stage adds the <see cref="Stopwatch"/> ticks of its own
/// work per item or batch (two timestamp reads, ~40 ns, against microseconds of work). Ingest counts the
/// <c>Consume</c> calls that returned a record (a call can have waited a little before it arrived) and the hand-over;
/// Preprocess sums its workers (<c>Processor:PreprocessWorkers</c>); Egress counts <c>Produce</c> calls, not the
/// client's own threads. Thread-safe.
/// </summary>
public sealed class StageBusy
{
    private readonly long[] _ticks = new long[Enum.GetValues<PipelineStage>().Length];

    public void Add(PipelineStage stage, long ticks) => Interlocked.Add(ref _ticks[(int)stage], ticks);

    /// <summary>Adds the time since <paramref name="startTicks"/> (a <see cref="Stopwatch.GetTimestamp"/>) to <paramref name="stage"/>.</summary>
    public void Since(PipelineStage stage, long startTicks) => Add(stage, Stopwatch.GetTimestamp() - startTicks);

    public TimeSpan Busy(PipelineStage stage) => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks[(int)stage]));

    /// <summary>Busy seconds of every stage, in pipeline order.</summary>
    public IReadOnlyList<(PipelineStage Stage, double Seconds)> Snapshot()
    {
        var stages = Enum.GetValues<PipelineStage>();
        var result = new (PipelineStage, double)[stages.Length];
        for (var i = 0; i < stages.Length; i++)
        {
            result[i] = (stages[i], Busy(stages[i]).TotalSeconds);
        }

        return result;
    }
}
