using System.Globalization;
using StreamBert.Processor.Hosting;

namespace StreamBert.Cli.Bench;

/// <summary>One run of <see cref="HeadsBench"/>: engine msg/s with the heads in the encoder's graph and with the C# heads.</summary>
internal sealed record HeadsRun(int Run, double GraphBatched, double CSharpBatched, double GraphSingle, double CSharpSingle)
{
    public double BatchedRatio => GraphBatched / CSharpBatched;

    public double SingleRatio => GraphSingle / CSharpSingle;
}

/// <summary>
/// <c>streambert bench --compare-heads</c>: the engine alone (as <see cref="EngineBench"/>: the processor's preprocessor
/// and batcher, only <c>ModelSet.Run</c> timed) with <c>Processor:HeadsInGraph=true</c> (one ONNX Runtime call returns
/// the heads' outputs) and <c>=false</c> (the call returns hidden states, the C# heads read them), both sets loaded side by
/// side in one process. Each chunk of the corpus runs under all four conditions (batched and one per call, each both
/// ways) in an order that rotates chunk by chunk and run by run, so load drift on this shared machine falls on all.
/// </summary>
internal static class HeadsBench
{
    public static async Task<IReadOnlyList<HeadsRun>> RunAsync(
        ProcessorOptions options, TopicNames topics, IReadOnlyList<byte[]> values, int runs, TextWriter output)
    {
        options.HeadsInGraph = true;
        using var graph = await EngineBench.CreateAsync(options, topics, values).ConfigureAwait(false);
        options.HeadsInGraph = false;
        using var csharp = await EngineBench.CreateAsync(options, topics, values).ConfigureAwait(false);
        graph.WarmUp();
        csharp.WarmUp();
        var batching = graph.Batching;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"heads: {string.Join(", ", graph.Models.Heads.Values.Select(h => $"{h.Task} {h.Head.InputDim}→{(h.Head.HiddenDim > 0 ? $"{h.Head.HiddenDim}→" : "")}{h.Head.ClassCount}"))}; corpus {batching.Messages} messages → {batching.Sequences} sequences → {batching.Batches} batches; CPU {CeilingReport.CpuModel()}"));
        var results = new List<HeadsRun>();
        for (var run = 0; run < runs; run++)
        {
            var times = new TimeSpan[4];
            var messages = 0;
            for (var c = 0; c < graph.ChunkCount; c++)
            {
                messages += graph.ChunkMessages(c);
                for (var k = 0; k < 4; k++)
                {
                    var condition = (c + run + k) % 4;
                    times[condition] += condition switch
                    {
                        0 => graph.TimeBatched(c),
                        1 => csharp.TimeBatched(c),
                        2 => graph.TimeSingle(c),
                        _ => csharp.TimeSingle(c),
                    };
                }
            }

            var result = new HeadsRun(run + 1, messages / times[0].TotalSeconds, messages / times[1].TotalSeconds, messages / times[2].TotalSeconds, messages / times[3].TotalSeconds);
            results.Add(result);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"heads run {run + 1}: batched graph {result.GraphBatched:F1} / C# {result.CSharpBatched:F1} msg/s ({result.BatchedRatio:F3}×); one per call graph {result.GraphSingle:F1} / C# {result.CSharpSingle:F1} msg/s ({result.SingleRatio:F3}×); load {BenchRunner.LoadAverage()}"));
        }

        output.WriteLine();
        output.WriteLine("| engine alone | " + string.Join(" | ", results.Select(r => $"run {r.Run}")) + " | median |");
        output.WriteLine("|" + string.Concat(Enumerable.Repeat(" --- |", results.Count + 2)));
        void Row(string name, Func<HeadsRun, double> f, string format) =>
            output.WriteLine($"| {name} | {string.Join(" | ", results.Select(r => f(r).ToString(format, CultureInfo.InvariantCulture)))} | {BenchStats.Median(results.Select(f)).ToString(format, CultureInfo.InvariantCulture)} |");
        Row("batched, heads in graph, msg/s", r => r.GraphBatched, "F1");
        Row("batched, C# heads, msg/s", r => r.CSharpBatched, "F1");
        Row("**batched graph / C#**", r => r.BatchedRatio, "F3");
        Row("1 per call, heads in graph, msg/s", r => r.GraphSingle, "F1");
        Row("1 per call, C# heads, msg/s", r => r.CSharpSingle, "F1");
        Row("**1 per call graph / C#**", r => r.SingleRatio, "F3");
        output.WriteLine();
        return results;
    }
}
