using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Processor.Hosting;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Bench;

/// <summary>
/// <c>streambert bench</c>: engine alone (token-budget batches vs one sequence per call), Kafka→Kafka drain
/// vs engine alone, and latency at half the drain rate — all in one process and one run, repeated
/// <c>--runs</c> times with the order of the engine and Kafka phases alternating, and reported as medians,
/// because this shared 2-core machine's load drifts by minutes.
/// </summary>
internal static class BenchRunner
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static async Task<int> RunAsync(BenchOptions options, TextWriter output, CancellationToken ct)
    {
        var data = RepoPaths.ShippedData()
            ?? throw new InvalidOperationException("The bench needs the repository's data/ folder (run it from the repository).");
        var sms = Path.Combine(data, "sms", "SMSSpamCollection.tsv");
        var registry = new ModelRegistry(Path.GetFullPath(options.Registry));
        if (registry.CurrentVersion(TaskNames.Spam) is null)
        {
            output.WriteLine($"No spam model in {registry.Root}: training one on the SMS Spam Collection (heads only, ~1-2 min on 2 cores)…");
            await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [sms], Registry = registry.Root }, output, ct).ConfigureAwait(false);
        }

        var loadBefore = LoadAverage();
        var configuration = BuildConfiguration();
        output.WriteLine($"bench: {options.Messages} messages × {options.Runs} runs, {configuration} build, {Environment.ProcessorCount} cores, load average {loadBefore}");

        // The engine bench uses the processor's options as the host would bind them, overrides included,
        // so both sides batch with the same MaxBatchTokens / MaxBatchSequences.
        var processorOptions = new ProcessorOptions();
        var topicNames = new TopicNames();
        var bound = new ConfigurationBuilder().AddInMemoryCollection(options.ProcessorSettings).Build();
        bound.GetSection("Processor").Bind(processorOptions);
        processorOptions.Registry = registry.Root;

        var texts = BenchCorpus.Load(sms, options.Messages);
        if (options.Engine == "null")
        {
            using var nullPipeline = new PipelineBench(registry.Root, texts, options.ProcessorSettings, NullEngineBench.Partitions);
            var nullRuns = await NullEngineBench.RunAsync(nullPipeline, options.Runs, output, ct).ConfigureAwait(false);
            if (options.JsonPath is { } nullJson)
            {
                await File.WriteAllTextAsync(nullJson, NullEngineBench.Json(nullRuns, Json), ct).ConfigureAwait(false);
                output.WriteLine($"wrote {nullJson}");
            }

            return 0;
        }

        if (options.ComparePrecision)
        {
            using var precisionPipeline = new PipelineBench(registry.Root, texts, options.ProcessorSettings);
            var precisionRuns = await PrecisionBench.RunAsync(precisionPipeline, processorOptions, topicNames, options.Runs, output, ct).ConfigureAwait(false);
            if (options.JsonPath is { } precisionJson)
            {
                await File.WriteAllTextAsync(precisionJson, JsonSerializer.Serialize(precisionRuns, Json), ct).ConfigureAwait(false);
                output.WriteLine($"wrote {precisionJson}");
            }

            return 0;
        }

        var values = texts.Select((t, i) => JsonSerializer.SerializeToUtf8Bytes(new MessageInput($"e-{i}", t))).ToList();
        if (options.CompareHeads)
        {
            var headsRuns = await HeadsBench.RunAsync(processorOptions, topicNames, values, options.Runs, output).ConfigureAwait(false);
            if (options.JsonPath is { } headsJson)
            {
                await File.WriteAllTextAsync(headsJson, JsonSerializer.Serialize(headsRuns, Json), ct).ConfigureAwait(false);
                output.WriteLine($"wrote {headsJson}");
            }

            return 0;
        }

        using var engine = await EngineBench.CreateAsync(processorOptions, topicNames, values).ConfigureAwait(false);
        engine.WarmUp();
        var batching = engine.Batching;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"corpus: {batching.Messages} messages → {batching.Sequences} sequences → {batching.Batches} batches (mean {batching.MeanBatchSequences:F1} seq, padding {batching.PaddingRatio:P0}; length-sorted reference {batching.SortedMeanBatchSequences:F1} seq, padding {batching.SortedPaddingRatio:P0}); preprocess alone {batching.PreprocessMessagesPerSecond:F0} msg/s"));

        using var pipeline = new PipelineBench(registry.Root, texts, options.ProcessorSettings);
        var runs = new List<RunResult>();
        for (var run = 0; run < options.Runs; run++)
        {
            // Alternate which phase goes first, so a load trend does not always favour the same side of the ratio.
            EngineRun engineRun;
            PipelineRun pipelineRun;
            string order;
            if (run % 2 == 0)
            {
                order = "engine,kafka,latency";
                engineRun = engine.Measure(run);
                pipelineRun = await pipeline.MeasureThroughputAsync(run, engineRun.BatchedMessagesPerSecond, ct).ConfigureAwait(false);
            }
            else
            {
                order = "kafka,engine,latency";
                var provisional = await pipeline.MeasureThroughputAsync(run, 1, ct).ConfigureAwait(false);
                engineRun = engine.Measure(run);
                pipelineRun = provisional with { OverEngineBatched = provisional.SteadyMessagesPerSecond / engineRun.BatchedMessagesPerSecond };
            }

            // Half of the drain rate measured so far (median over runs), so one noisy run does not set the load.
            var rate = 0.5 * BenchStats.Median(runs.Select(r => r.Pipeline.SteadyMessagesPerSecond).Append(pipelineRun.SteadyMessagesPerSecond));
            var latencyRun = await pipeline.MeasureLatencyAsync(run, rate, TimeSpan.FromSeconds(options.LatencySeconds), ct).ConfigureAwait(false);
            var result = new RunResult(run + 1, order, engineRun, pipelineRun, latencyRun, LoadAverage());
            runs.Add(result);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run + 1}: engine batched {engineRun.BatchedMessagesPerSecond:F1} / single {engineRun.SingleMessagesPerSecond:F1} msg/s · kafka→kafka {pipelineRun.SteadyMessagesPerSecond:F1} msg/s ({pipelineRun.OverEngineBatched:F2}× engine, engine busy {pipelineRun.EngineUtilization:P0}) · at {latencyRun.TargetMessagesPerSecond:F0} msg/s p50 {latencyRun.P50Ms:F0} ms p99 {latencyRun.P99Ms:F0} ms · load {result.LoadAfter}"));
        }

        var summary = Summarize(runs);
        var ceiling = MeasureCeiling(engine, summary, ModelLoader.SessionSettingsOf(processorOptions), output);
        var report = new BenchReport(
            new BenchEnvironment(configuration, Environment.ProcessorCount, loadBefore, LoadAverage(), System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription, engine.Models.Device.Provider, options.ProcessorSettings),
            options.Messages,
            options.Runs,
            batching,
            runs,
            summary,
            ceiling);
        WriteTable(report, output);
        ceiling.WriteTable(output);
        var json = JsonSerializer.Serialize(report, Json);
        output.WriteLine(json);
        if (options.JsonPath is { } path)
        {
            await File.WriteAllTextAsync(path, json, ct).ConfigureAwait(false);
            output.WriteLine($"wrote {path}");
        }

        return 0;
    }

    /// <summary>
    /// The kernel ceiling with the engine's own session settings, and the engine's medians (not re-timed) as a share of it:
    /// useful FLOPs only, counted per real token of each sequence, so padding in the batched condition shows as a lower share.
    /// </summary>
    private static CeilingReport MeasureCeiling(EngineBench engine, BenchSummary summary, SessionSettings settings, TextWriter output)
    {
        // Served bundles keep the pretrained encoder's shape (heads-only training and fine-tuning change weights, not shapes).
        var shape = EncoderShape.Read(EncoderGraph.Parse(MiniLmResources.Ensure().ModelPath));
        output.WriteLine("ceiling: timing MatMul kernels at the encoder's shapes…");
        var kernels = CeilingRunner.Measure(settings, shape, samples: 5);
        long tokens = 0;
        double flops = 0;
        foreach (var length in engine.SequenceLengths)
        {
            tokens += length;
            flops += shape.FlopsPerSequence(length);
        }

        var messages = engine.Batching.Messages;
        var tokensPerMessage = (double)tokens / messages;
        var flopsPerToken = flops / tokens;
        // The bench's bundle runs the fp32 encoder; an int8 bundle would be compared with the int8 column.
        var shares = new List<EncoderCeilingShare>
        {
            CeilingReport.Share(kernels, "fp32", "1 per call", "engine bench, SMS corpus", CeilingBench.DefaultTokens[0], summary.EngineSingleMessagesPerSecond * tokensPerMessage, flopsPerToken),
            CeilingReport.Share(kernels, "fp32", "batched", "engine bench, SMS corpus", CeilingBench.DefaultTokens[1], summary.EngineBatchedMessagesPerSecond * tokensPerMessage, flopsPerToken),
        };
        return new CeilingReport(CeilingReport.CpuModel(), settings.IntraOpThreads, shape, shape.FlopsPerToken(32), kernels, shares);
    }

    private static BenchSummary Summarize(List<RunResult> runs)
    {
        double M(Func<RunResult, double> f) => BenchStats.Median(runs.Select(f));
        var ratio = M(r => r.Pipeline.OverEngineBatched);
        return new BenchSummary(
            M(r => r.Engine.BatchedMessagesPerSecond),
            M(r => r.Engine.SingleMessagesPerSecond),
            M(r => r.Engine.BatchedOverSingle),
            M(r => r.Engine.SortedBatchesMessagesPerSecond),
            M(r => r.Pipeline.SteadyMessagesPerSecond),
            M(r => r.Pipeline.FromStartMessagesPerSecond),
            ratio,
            ratio >= 0.8,
            M(r => r.Pipeline.EngineUtilization),
            M(r => r.Latency.TargetMessagesPerSecond),
            M(r => r.Latency.P50Ms),
            M(r => r.Latency.P99Ms),
            M(r => r.Latency.ProcessorP50Ms),
            M(r => r.Latency.ProcessorP99Ms));
    }

    private static void WriteTable(BenchReport report, TextWriter output)
    {
        var runs = report.PerRun;
        var header = "| measure | " + string.Join(" | ", runs.Select(r => $"run {r.Run}")) + " | median |";
        output.WriteLine();
        output.WriteLine(header);
        output.WriteLine("|" + string.Concat(Enumerable.Repeat(" --- |", runs.Count + 2)));
        void Row(string name, Func<RunResult, double> f, string format)
        {
            var cells = runs.Select(r => f(r).ToString(format, CultureInfo.InvariantCulture));
            output.WriteLine($"| {name} | {string.Join(" | ", cells)} | {BenchStats.Median(runs.Select(f)).ToString(format, CultureInfo.InvariantCulture)} |");
        }

        Row("engine batched, msg/s", r => r.Engine.BatchedMessagesPerSecond, "F1");
        Row("engine 1 per call, msg/s", r => r.Engine.SingleMessagesPerSecond, "F1");
        Row("batched / single", r => r.Engine.BatchedOverSingle, "F2");
        Row("engine, reference: length-sorted batches, msg/s", r => r.Engine.SortedBatchesMessagesPerSecond, "F1");
        Row("kafka→kafka drain, msg/s", r => r.Pipeline.SteadyMessagesPerSecond, "F1");
        Row("kafka→kafka / engine batched (≥0.80)", r => r.Pipeline.OverEngineBatched, "F2");
        Row("kafka→kafka from subscribed, msg/s", r => r.Pipeline.FromStartMessagesPerSecond, "F1");
        Row("start → first label, s", r => r.Pipeline.StartupSeconds, "F1");
        Row("engine busy share in drain", r => r.Pipeline.EngineUtilization, "P0");
        Row("engine msg per busy second in drain", r => r.Pipeline.EngineMessagesPerBusySecond, "F1");
        Row("processor batch size, seq", r => r.Pipeline.MeanBatchSequences, "F1");
        Row("processor padding", r => r.Pipeline.PaddingRatio, "P0");
        Row("latency feed, msg/s", r => r.Latency.AchievedMessagesPerSecond, "F1");
        Row("send→label p50, ms", r => r.Latency.P50Ms, "F0");
        Row("send→label p99, ms", r => r.Latency.P99Ms, "F0");
        Row("processor metric p50, ms", r => r.Latency.ProcessorP50Ms, "F0");
        Row("processor metric p99, ms", r => r.Latency.ProcessorP99Ms, "F0");
        Row("batch size at half load, seq", r => r.Latency.MeanBatchSequences, "F1");
        Row("CPU share of bench: engine phase", r => r.Engine.CpuShare, "P0");
        Row("CPU share of bench: drain", r => r.Pipeline.CpuShare, "P0");
        output.WriteLine($"| load average after run | {string.Join(" | ", runs.Select(r => r.LoadAfter))} | |");
        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"engine batches (processor's batcher): mean {report.Batching.MeanBatchSequences:F1} sequences, padding {report.Batching.PaddingRatio:P0}; length-sorted reference: mean {report.Batching.SortedMeanBatchSequences:F1}, padding {report.Batching.SortedPaddingRatio:P0}; {report.Environment.Configuration} build; load average before {report.Environment.LoadBefore}, after {report.Environment.LoadAfter}"));
        output.WriteLine();
    }

    /// <summary>Release or Debug, read from the JIT settings the build baked into the processor assembly.</summary>
    private static string BuildConfiguration()
    {
        static bool Optimized(Assembly a) => a.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled != true;
        var assemblies = new[] { typeof(BenchRunner).Assembly, typeof(ProcessorHost).Assembly, typeof(ModelRegistry).Assembly };
        return assemblies.All(Optimized) ? "Release" : assemblies.Any(Optimized) ? "mixed Debug/Release" : "Debug";
    }

    /// <summary>The 1, 5 and 15-minute load averages, so a figure from this shared machine says how busy it was.</summary>
    internal static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
