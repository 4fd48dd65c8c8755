using System.Globalization;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Hosting;

namespace StreamBert.Cli.Bench;

/// <summary>One run of <see cref="PrecisionBench"/>: both drains of the run and the order they ran in.</summary>
internal sealed record PrecisionRun(int Run, string Order, PipelineRun Fp32, PipelineRun Int8)
{
    public double Int8OverFp32 => Int8.SteadyMessagesPerSecond / Fp32.SteadyMessagesPerSecond;
}

/// <summary>
/// <c>streambert bench --compare-precision</c>: the Kafka→Kafka drain of the same corpus (SMS lengths) with
/// <c>Processor:Precision=fp32</c> and <c>=int8</c>, side by side on one embedded cluster, the order alternating per run
/// so a load trend on this shared machine does not always favour one side; the ratio is the median of per-run ratios.
/// </summary>
internal static class PrecisionBench
{
    public static async Task<IReadOnlyList<PrecisionRun>> RunAsync(
        PipelineBench pipeline, ProcessorOptions processorOptions, TopicNames topics, int runs, TextWriter output, CancellationToken ct)
    {
        // The first int8 load quantises the encoder into the cache; do it before timing so no drain pays for it.
        processorOptions.Precision = EncoderPrecisions.Name(EncoderPrecision.Int8);
        using (var warm = ModelLoader.Load(processorOptions, topics).Models)
        {
            output.WriteLine($"int8 encoder ready (sha256 {string.Join(", ", warm.EncoderSha256)})");
        }

        var fp32 = new Dictionary<string, string?> { ["Processor:Precision"] = "fp32" };
        var int8 = new Dictionary<string, string?> { ["Processor:Precision"] = "int8" };
        var results = new List<PrecisionRun>();
        for (var run = 0; run < runs; run++)
        {
            PipelineRun a, b;
            string order;
            if (run % 2 == 0)
            {
                order = "fp32,int8";
                a = await pipeline.MeasureThroughputAsync((2 * run) + 100, 1, ct, fp32).ConfigureAwait(false);
                b = await pipeline.MeasureThroughputAsync((2 * run) + 101, 1, ct, int8).ConfigureAwait(false);
            }
            else
            {
                order = "int8,fp32";
                b = await pipeline.MeasureThroughputAsync((2 * run) + 100, 1, ct, int8).ConfigureAwait(false);
                a = await pipeline.MeasureThroughputAsync((2 * run) + 101, 1, ct, fp32).ConfigureAwait(false);
            }

            var result = new PrecisionRun(run + 1, order, a, b);
            results.Add(result);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"precision run {run + 1} ({order}): kafka→kafka fp32 {a.SteadyMessagesPerSecond:F1} msg/s, int8 {b.SteadyMessagesPerSecond:F1} msg/s = {result.Int8OverFp32:F2}× (engine busy {a.EngineUtilization:P0} / {b.EngineUtilization:P0}; padding {a.PaddingRatio:P0} / {b.PaddingRatio:P0}; ingest waits / pauses {a.Profile?.IngestWaits} / {a.Profile?.IngestPauses}, {b.Profile?.IngestWaits} / {b.Profile?.IngestPauses})"));
        }

        output.WriteLine();
        output.WriteLine("| kafka→kafka drain | " + string.Join(" | ", results.Select(r => $"run {r.Run}")) + " | median |");
        output.WriteLine("|" + string.Concat(Enumerable.Repeat(" --- |", results.Count + 2)));
        void Row(string name, Func<PrecisionRun, double> f, string format) =>
            output.WriteLine($"| {name} | {string.Join(" | ", results.Select(r => f(r).ToString(format, CultureInfo.InvariantCulture)))} | {BenchStats.Median(results.Select(f)).ToString(format, CultureInfo.InvariantCulture)} |");
        Row("fp32, msg/s", r => r.Fp32.SteadyMessagesPerSecond, "F1");
        Row("int8, msg/s", r => r.Int8.SteadyMessagesPerSecond, "F1");
        Row("**int8 / fp32**", r => r.Int8OverFp32, "F2");
        Row("engine busy share fp32", r => r.Fp32.EngineUtilization, "P0");
        Row("engine busy share int8", r => r.Int8.EngineUtilization, "P0");
        output.WriteLine();
        return results;
    }
}
