using System.Globalization;
using System.Text.Json;

namespace StreamBert.Cli.Bench;

/// <summary>One drain of <see cref="NullEngineBench"/>.</summary>
internal sealed record NullEngineRun(int Run, PipelineRun Drain, string LoadAfter);

/// <summary>
/// <c>streambert bench --engine null</c>: the real processor — Kafka ingest, parse, tokenize, batching, postprocess,
/// serialisation, egress, offset commits — with <c>Processor:Engine=null</c> (fixed outputs, no model), draining the SMS
/// corpus Kafka→Kafka on the embedded cluster. What it measures is the most the pipeline around the engine can carry;
/// each run prints where the time went (stage busy shares, CPU per thread group) so the bounding stage can be named.
/// </summary>
internal static class NullEngineBench
{
    /// <summary>The embedded broker keeps ~5 MiB per partition: 6 partitions hold ~150k SMS-sized messages in and out.</summary>
    public const int Partitions = 6;

    public static async Task<IReadOnlyList<NullEngineRun>> RunAsync(PipelineBench pipeline, int runs, TextWriter output, CancellationToken ct)
    {
        var results = new List<NullEngineRun>();
        var nullEngine = new Dictionary<string, string?> { ["Processor:Engine"] = "null" };
        // A first drain, not reported: the JIT compiles the hot paths (tiered compilation) and the OS faults in the memory,
        // which took a third of the CPU of a cold 2-second drain.
        var warm = await pipeline.MeasureThroughputAsync(-1, 1, ct, nullEngine).ConfigureAwait(false);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warm-up drain (not counted): {warm.SteadyMessagesPerSecond:F0} msg/s"));
        for (var run = 0; run < runs; run++)
        {
            var drain = await pipeline.MeasureThroughputAsync(run, 1, ct, nullEngine).ConfigureAwait(false);
            var result = new NullEngineRun(run + 1, drain, BenchRunner.LoadAverage());
            results.Add(result);
            var profile = drain.Profile!;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run + 1}: kafka→kafka {drain.SteadyMessagesPerSecond:F0} msg/s (null engine) · busy: {string.Join(", ", profile.StageBusySeconds.Keys.Select(s => $"{s} {profile.Share(s):P0}"))} · process CPU {drain.CpuShare:P0} of {Environment.ProcessorCount} cores · load {result.LoadAfter}"));
            output.WriteLine("  CPU s per thread group: " + string.Join(", ", profile.ThreadCpuSeconds.OrderByDescending(t => t.Value).Take(10).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value:F2}"))) + string.Create(CultureInfo.InvariantCulture, $" (window {profile.WindowSeconds:F2} s, processor acknowledged all after {profile.AcknowledgedAllSeconds:F2} s, ingest pauses {profile.IngestPauses})"));
        }

        WriteTable(results, output);
        return results;
    }

    public static string Json(IReadOnlyList<NullEngineRun> runs, JsonSerializerOptions options) => JsonSerializer.Serialize(runs, options);

    private static void WriteTable(List<NullEngineRun> runs, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine("| null engine, kafka→kafka | " + string.Join(" | ", runs.Select(r => $"run {r.Run}")) + " | median |");
        output.WriteLine("|" + string.Concat(Enumerable.Repeat(" --- |", runs.Count + 2)));
        void Row(string name, Func<NullEngineRun, double> f, string format) =>
            output.WriteLine($"| {name} | {string.Join(" | ", runs.Select(r => f(r).ToString(format, CultureInfo.InvariantCulture)))} | {BenchStats.Median(runs.Select(f)).ToString(format, CultureInfo.InvariantCulture)} |");
        Row("**msg/s** (first → last label)", r => r.Drain.SteadyMessagesPerSecond, "F0");
        Row("msg/s from subscribed (join, fill)", r => r.Drain.FromStartMessagesPerSecond, "F0");
        foreach (var stage in runs[0].Drain.Profile!.StageBusySeconds.Keys)
        {
            Row($"{stage} busy share", r => r.Drain.Profile!.Share(stage), "P0");
        }

        Row("processor alone: msg/s to last acknowledgement", r => r.Drain.SteadyMessagesPerSecond * r.Drain.Profile!.WindowSeconds / r.Drain.Profile.AcknowledgedAllSeconds, "F0");
        Row("ingest pauses (budget full)", r => r.Drain.Profile!.IngestPauses, "F0");
        Row("process CPU (of all cores)", r => r.Drain.CpuShare, "P0");
        Row("batch size, seq", r => r.Drain.MeanBatchSequences, "F1");
        var groups = runs.SelectMany(r => r.Drain.Profile!.ThreadCpuSeconds.Keys).Distinct()
            .OrderByDescending(g => BenchStats.Median(runs.Select(r => r.Drain.Profile!.ThreadCpuSeconds.GetValueOrDefault(g) / r.Drain.Profile.WindowSeconds)))
            .Take(8);
        foreach (var group in groups)
        {
            Row($"CPU cores: {group}", r => r.Drain.Profile!.ThreadCpuSeconds.GetValueOrDefault(group) / r.Drain.Profile.WindowSeconds, "F2");
        }

        output.WriteLine($"| load average after run | {string.Join(" | ", runs.Select(r => r.LoadAfter))} | |");
        output.WriteLine();
    }
}
