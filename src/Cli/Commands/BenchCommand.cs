using System.CommandLine;
using StreamBert.Cli.Bench;

namespace StreamBert.Cli.Commands;

internal static class BenchCommand
{
    public static Command Create()
    {
        var registry = new Option<string>("--registry") { Description = "Model registry folder (the spam model is trained into it if missing)", DefaultValueFactory = _ => Path.Combine(".streambert", "bench-registry") };
        var messages = new Option<int?>("--messages") { Description = "Messages per measurement (default 3000; 120000 with --engine null)" };
        var runs = new Option<int>("--runs") { Description = "Repetitions; medians are reported", DefaultValueFactory = _ => 3 };
        var json = new Option<string?>("--json") { Description = "Write the results as JSON to this file" };
        var latencySeconds = new Option<double>("--latency-seconds") { Description = "Length of the half-load latency feed per run", DefaultValueFactory = _ => 20 };
        var set = new Option<string[]>("--set")
        {
            Description = "Processor configuration override KEY=VALUE (e.g. Processor:MaxBatchDelay=00:00:00.002, Kafka:Producer:linger.ms=0); repeatable",
            AllowMultipleArgumentsPerToken = false,
        };
        var comparePrecision = new Option<bool>("--compare-precision")
        {
            Description = "Only the Kafka→Kafka drain, Processor:Precision=fp32 vs int8 side by side (order alternating per run; medians and the int8/fp32 ratio)",
        };
        var compareHeads = new Option<bool>("--compare-heads")
        {
            Description = "Only the engine alone, Processor:HeadsInGraph=true (heads in the encoder's ONNX graph) vs false (C# heads on hidden states), side by side, batched and one per call (medians and graph/C# ratios)",
        };
        var engine = new Option<string>("--engine")
        {
            Description = "onnx (the model), or null: only the Kafka→Kafka drain with Processor:Engine=null (fixed outputs, no model): what the pipeline around the engine carries, and which stage bounds it",
            DefaultValueFactory = _ => "onnx",
        };
        engine.AcceptOnlyFromAmong("onnx", "null");
        var command = new Command("bench", "Engine alone (batched vs one per call), Kafka→Kafka throughput vs engine, and latency at half load, side by side")
        {
            registry, messages, runs, json, latencySeconds, set, comparePrecision, engine, compareHeads,
        };
        CommandChecks.Positive(latencySeconds);
        command.Validators.Add(result =>
        {
            if (result.GetValue(messages) is < 100)
            {
                result.AddError("--messages must be at least 100.");
            }

            if (result.GetValue(runs) < 1)
            {
                result.AddError("--runs must be at least 1.");
            }

            foreach (var pair in result.GetValue(set) ?? [])
            {
                if (!pair.Contains('=', StringComparison.Ordinal))
                {
                    result.AddError($"--set {pair}: expected KEY=VALUE.");
                }
            }
        });
        command.SetAction((result, ct) => BenchRunner.RunAsync(
            new BenchOptions(
                result.GetValue(registry)!,
                result.GetValue(messages) ?? (result.GetValue(engine) == "null" ? 120_000 : 3000),
                result.GetValue(runs),
                result.GetValue(json),
                result.GetValue(latencySeconds),
                (result.GetValue(set) ?? []).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => (string?)p[1]),
                result.GetValue(comparePrecision),
                result.GetValue(engine)!,
                result.GetValue(compareHeads)),
            Console.Out,
            ct));
        return command;
    }

    public static Command CreateSwap()
    {
        var registry = new Option<string>("--registry") { Description = "Model registry folder with a spam bundle", DefaultValueFactory = _ => StreamBert.Engine.Models.ModelRegistry.DefaultRoot };
        var swaps = new Option<int>("--swaps") { Description = "Swaps per mode", DefaultValueFactory = _ => 40 };
        var command = new Command("bench-swap", "Hot-swap pause: batch-start wait at each swap while the engine runs back to back, and the cost of loading beside it")
        {
            registry, swaps,
        };
        CommandChecks.AtLeast(swaps, 1);
        command.SetAction((result, ct) => Task.Run(() => SwapBench.Run(result.GetValue(registry)!, result.GetValue(swaps), Console.Out, ct), ct));
        return command;
    }

    public static Command CreateArticles()
    {
        var registry = new Option<string>("--registry") { Description = "Model registry folder with an articles bundle", DefaultValueFactory = _ => StreamBert.Engine.Models.ModelRegistry.DefaultRoot };
        var articles = new Option<int>("--articles") { Description = "Articles (ClaimBuster debate passages) per run", DefaultValueFactory = _ => 200 };
        var runs = new Option<int>("--runs") { Description = "Repetitions; medians are reported", DefaultValueFactory = _ => 3 };
        var comparePrecision = new Option<bool>("--compare-precision")
        {
            Description = "Only both heads on one encoder pass, the bundle served fp32 vs int8 (as Processor:Precision) side by side (order alternating per run; medians, sequences encoded vs windows, and the int8/fp32 ratio)",
        };
        var compareHeads = new Option<bool>("--compare-heads")
        {
            Description = "Only both heads on one encoder pass, heads in the encoder's ONNX graph vs C# heads on hidden states (Processor:HeadsInGraph) side by side (order alternating per run; medians and the ratio)",
        };
        var command = new Command("bench-articles", "Articles/s and sentences/s with both heads on one encoder pass vs one head, vs a pass per head")
        {
            registry, articles, runs, comparePrecision, compareHeads,
        };
        CommandChecks.AtLeast(articles, 1);
        CommandChecks.AtLeast(runs, 1);
        command.SetAction((result, ct) => ArticlesBench.RunAsync(result.GetValue(registry)!, result.GetValue(articles), result.GetValue(runs), result.GetValue(comparePrecision), Console.Out, ct, result.GetValue(compareHeads)));
        return command;
    }

    public static Command CreateCeiling()
    {
        var samples = new Option<int>("--samples") { Description = "Timed samples per kernel and encoder condition; medians are reported", DefaultValueFactory = _ => 7 };
        var threads = new Option<int>("--threads") { Description = "IntraOpNumThreads, as Processor:IntraOpThreads (0 = one per core, the serving default)", DefaultValueFactory = _ => 0 };
        var json = new Option<string?>("--json") { Description = "Write the results as JSON to this file" };
        var breakdown = new Option<bool>("--breakdown") { Description = "Also sweep packed row lengths (the attention cost packing uses) and profile the encoder's operators, fp32 vs int8 (Amdahl bound of int8 ÷ fp32)" };
        var command = new Command("bench-ceiling", "fp32 and int8 matrix-multiply ceiling through ONNX Runtime at the encoder's shapes, and the encoder's share of it")
        {
            samples, threads, breakdown, json,
        };
        CommandChecks.AtLeast(samples, 1);
        CommandChecks.AtLeast(threads, 0);
        command.SetAction((result, ct) => CeilingRunner.RunAsync(result.GetValue(samples), result.GetValue(threads), result.GetValue(breakdown), result.GetValue(json), Console.Out, ct));
        return command;
    }
}
