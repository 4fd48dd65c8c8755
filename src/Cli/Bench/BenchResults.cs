namespace StreamBert.Cli.Bench;

/// <summary>Engine alone, both batching conditions measured interleaved over the same messages.</summary>
internal sealed record EngineRun(
    double BatchedMessagesPerSecond,
    double SingleMessagesPerSecond,
    double BatchedOverSingle,
    double SortedBatchesMessagesPerSecond,
    double CpuShare);

/// <summary>How the batcher cut the corpus for the engine-alone batched condition (the same every run).</summary>
internal sealed record EngineBatching(int Messages, int Sequences, int Batches, double MeanBatchSequences, double PaddingRatio, double SortedMeanBatchSequences, double SortedPaddingRatio, double PreprocessMessagesPerSecond);

/// <summary>Pre-loaded topic drained by the in-process processor.</summary>
/// <param name="SteadyMessagesPerSecond">Labels between the first and the last label arrival: the drain rate, without model load and group join.</param>
/// <param name="FromStartMessagesPerSecond">All labels over the time from the subscribed processor to the last label (includes group join and pipeline fill).</param>
/// <param name="EngineUtilization">Share of the steady window the engine thread spent inside ModelSet.Run.</param>
/// <param name="EngineMessagesPerBusySecond">Messages per second of engine busy time: the engine's own speed while the rest of the pipeline shares the cores.</param>
internal sealed record PipelineRun(
    double SteadyMessagesPerSecond,
    double FromStartMessagesPerSecond,
    double StartupSeconds,
    double OverEngineBatched,
    double EngineUtilization,
    double EngineMessagesPerBusySecond,
    double MeanBatchSequences,
    double PaddingRatio,
    double CpuShare,
    PipelineProfile? Profile = null);

/// <summary>
/// Where the time of a drain went, between its first and its last label: each stage's busy seconds
/// (<c>ProcessorMetrics.Stages</c>; preprocess summed over its workers) and CPU seconds per thread group of the whole
/// bench process (processor, embedded broker, the bench's producer and label reader).
/// </summary>
internal sealed record PipelineProfile(double WindowSeconds, int PreprocessWorkers, IReadOnlyDictionary<string, double> StageBusySeconds, IReadOnlyDictionary<string, double> ThreadCpuSeconds)
{
    /// <summary>Busy share of a stage: busy seconds over the window, per thread the stage runs on.</summary>
    /// <summary>Seconds from the window's start until the processor had every output acknowledged (≤ the window: the rest is the bench's reader catching up).</summary>
    public double AcknowledgedAllSeconds { get; init; }

    /// <summary>Times ingest paused on a full in-flight budget during the window.</summary>
    public long IngestPauses { get; init; }

    /// <summary>Times ingest waited on a full in-flight budget during the window (a pause follows only a wait past <c>Processor:PauseAfter</c>).</summary>
    public long IngestWaits { get; init; }

    public double Share(string stage) => StageBusySeconds.GetValueOrDefault(stage) / WindowSeconds / (stage == "preprocess" ? PreprocessWorkers : 1);
}

/// <summary>Paced feed at half the measured drain rate.</summary>
/// <param name="P50Ms">Producer send → label consumed by the bench's own consumer (same process, same clock).</param>
/// <param name="ProcessorP50Ms">The processor's own metric: consume → output acknowledged.</param>
internal sealed record LatencyRun(
    double TargetMessagesPerSecond,
    double AchievedMessagesPerSecond,
    int Sent,
    int Labelled,
    double P50Ms,
    double P99Ms,
    double MaxMs,
    double ProcessorP50Ms,
    double ProcessorP99Ms,
    double MeanBatchSequences,
    double CpuShare);

internal sealed record RunResult(int Run, string Order, EngineRun Engine, PipelineRun Pipeline, LatencyRun Latency, string LoadAfter);

/// <summary>Medians over runs of the figures the brief asks for.</summary>
internal sealed record BenchSummary(
    double EngineBatchedMessagesPerSecond,
    double EngineSingleMessagesPerSecond,
    double BatchedOverSingle,
    double EngineSortedBatchesMessagesPerSecond,
    double PipelineMessagesPerSecond,
    double PipelineFromStartMessagesPerSecond,
    double PipelineOverEngine,
    bool PipelineTargetMet,
    double EngineUtilizationInPipeline,
    double LatencyTargetMessagesPerSecond,
    double LatencyP50Ms,
    double LatencyP99Ms,
    double ProcessorLatencyP50Ms,
    double ProcessorLatencyP99Ms);

internal sealed record BenchEnvironment(
    string Configuration,
    int ProcessorCount,
    string LoadBefore,
    string LoadAfter,
    string Runtime,
    string ExecutionProvider,
    IReadOnlyDictionary<string, string?> ProcessorSettings);

internal sealed record BenchReport(
    BenchEnvironment Environment,
    int Messages,
    int Runs,
    EngineBatching Batching,
    IReadOnlyList<RunResult> PerRun,
    BenchSummary Median,
    CeilingReport Ceiling);
