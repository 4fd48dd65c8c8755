using System.Diagnostics;
using System.Text.Json;
using Google.Protobuf;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Training.Onnx;

namespace StreamBert.Cli.Bench;

/// <summary>
/// <c>streambert bench-ceiling</c>: the kernel ceiling alone, plus the pretrained encoder (fp32 and its int8
/// quantisation) timed on synthetic full-length sequences at the same token counts, so the share of the ceiling
/// needs neither Kafka nor a trained bundle. <c>streambert bench</c> reports the same shares from its own engine runs.
/// </summary>
internal static class CeilingRunner
{
    /// <summary>Sequence length of the synthetic sequences: an SMS-sized message (the corpus' messages are 20–40 tokens).</summary>
    private const int SequenceLength = 32;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Tokens of the breakdown's calls: one full token-budget batch, as the processor's batcher cuts them.</summary>
    private const int BreakdownTokens = 2048;

    /// <summary>Row length of the breakdown's profile: two SMS-sized sequences per row, what packing mostly forms from SMS traffic.</summary>
    private const int BreakdownProfileRowLength = 64;

    public static async Task<int> RunAsync(int samples, int threads, bool breakdown, string? jsonPath, TextWriter output, CancellationToken ct)
    {
        var settings = new SessionSettings { Device = DevicePreference.Cpu, IntraOpThreads = threads };
        var model = EncoderGraph.Parse(MiniLmResources.Ensure().ModelPath);
        var shape = EncoderShape.Read(model);
        output.WriteLine($"bench-ceiling: {samples} samples per kernel, {Environment.ProcessorCount} cores");
        var kernels = Measure(settings, shape, samples);
        ct.ThrowIfCancellationRequested();
        var encoder = new List<EncoderCeilingShare>();
        var int8 = Int8Quantizer.Quantize(model).Model;
        foreach (var (precision, graph) in new[] { ("fp32", model), ("int8", int8) })
        {
            using var session = new EncoderSession(graph.ToByteArray(), [shape.Layers], settings);
            foreach (var (call, rows, ceilingTokens) in new[] { ("1 per call", 1, CeilingBench.DefaultTokens[0]), ("batched", CeilingBench.DefaultTokens[1] / SequenceLength, CeilingBench.DefaultTokens[1]) })
            {
                var tokensPerSecond = TimeEncoder(session, rows, samples);
                encoder.Add(CeilingReport.Share(kernels, precision, call, $"synthetic {rows} × {SequenceLength} tokens", ceilingTokens, tokensPerSecond, shape.FlopsPerToken(SequenceLength)));
                ct.ThrowIfCancellationRequested();
            }
        }

        var report = new CeilingReport(CeilingReport.CpuModel(), threads, shape, shape.FlopsPerToken(SequenceLength), kernels, encoder);
        report.WriteTable(output);
        if (breakdown)
        {
            report = report with { Breakdown = EncoderBreakdown.Measure(model, int8, shape, settings, BreakdownTokens, BreakdownProfileRowLength, samples, kernels) };
            EncoderBreakdown.WriteTables(report.Breakdown, output);
        }

        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(report, Json), ct).ConfigureAwait(false);
            output.WriteLine($"wrote {jsonPath}");
        }

        return 0;
    }

    /// <summary>The kernels at the encoder's shapes; 50 ms samples are long enough for a 2048-token call and short enough for a 2-core machine.</summary>
    public static List<CeilingResult> Measure(SessionSettings settings, EncoderShape shape, int samples)
        => CeilingBench.Measure(settings, CeilingBench.DefaultTokens, shape.Hidden, shape.Ffn, samples, TimeSpan.FromMilliseconds(50));

    /// <summary>Tokens per second of the encoder on <paramref name="rows"/> unpadded sequences of random word-piece ids.</summary>
    private static double TimeEncoder(EncoderSession session, int rows, int samples)
    {
        var random = new Random(rows);
        using var batch = new EncoderBatch(rows, SequenceLength);
        var ids = new int[SequenceLength];
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                // Ordinary vocabulary ids (past the special and unused tokens of the uncased vocab).
                ids[i] = random.Next(2000, 30000);
            }

            batch.SetRow(r, ids);
        }

        void Call()
        {
            using var hidden = session.Run(batch);
        }

        for (var w = 0; w < 3; w++)
        {
            Call();
        }

        var times = new double[samples];
        var calls = rows == 1 ? 10 : 1;
        for (var s = 0; s < samples; s++)
        {
            var started = Stopwatch.GetTimestamp();
            for (var c = 0; c < calls; c++)
            {
                Call();
            }

            times[s] = Stopwatch.GetElapsedTime(started).TotalSeconds / calls;
        }

        return rows * SequenceLength / BenchStats.Median(times);
    }
}
