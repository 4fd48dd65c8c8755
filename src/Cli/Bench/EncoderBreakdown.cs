using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using StreamBert.Engine.Inference;

namespace StreamBert.Cli.Bench;

/// <summary>The encoder's rate with the same tokens packed into rows of one length (sequences of <see cref="EncoderBreakdown.SegmentLength"/> tokens).</summary>
internal sealed record RowLengthRate(string Precision, int RowLength, int Rows, double TokensPerSecond);

/// <summary>How a precision's cost per position grows with the row length: c(L) = a + b·L, fitted over <see cref="RowLengthRate"/>.</summary>
/// <param name="AttentionCostLength">a / b: the row length at which attention costs as much as the dense layers; +∞ when no growth was measured.</param>
internal sealed record AttentionFit(string Precision, double AttentionCostLength, double ServedConstant);

/// <summary>Kernel time of one operator group per encoder call, from ONNX Runtime's profile.</summary>
internal sealed record OperatorGroupTime(string Precision, string Group, double MillisecondsPerCall, double Share);

/// <summary>
/// What bounds int8 against fp32 (Amdahl): the dense layers' speed-up and the time of everything else, and the ratio the
/// encoder could reach if its int8 dense layers ran at the measured int8 kernel ceiling, or took no time at all.
/// </summary>
internal sealed record Int8Bound(double MeasuredRatio, double DenseSpeedup, double Int8RestShare, double RatioAtInt8Ceiling, double RatioWithFreeDenseLayers);

/// <summary>The serving session's rate with and without <see cref="CpuGraphTuning"/>, timed in turns at the profile's shape.</summary>
/// <param name="WithoutAttentionTokensPerSecond">Tuned, but the attention blocks left unfused (<see cref="SessionSettings.FuseAttention"/> off).</param>
internal sealed record TuningRate(string Precision, double UntunedTokensPerSecond, double WithoutAttentionTokensPerSecond, double TunedTokensPerSecond)
{
    public double Speedup => TunedTokensPerSecond / UntunedTokensPerSecond;
}

internal sealed record EncoderBreakdownReport(int Tokens, int ProfileRowLength, IReadOnlyList<RowLengthRate> RowLengths, IReadOnlyList<AttentionFit> Fits, IReadOnlyList<OperatorGroupTime> Operators, Int8Bound? Bound, IReadOnlyList<TuningRate> Tuning);

/// <summary>
/// <c>streambert bench-ceiling --breakdown</c>: where the encoder's time goes at the processor's packed shapes. Two
/// measurements through the serving <see cref="EncoderSession"/> (packing rewrite included): the same tokens packed into
/// rows of 32…256 positions, which gives the attention cost constant packing uses
/// (<see cref="EncoderSession.AttentionCostLength"/>), and ONNX Runtime's per-operator profile at one packed shape,
/// grouped into dense layers, attention, normalisation and activation, and the rest — the Amdahl bound of int8 ÷ fp32.
/// </summary>
internal static class EncoderBreakdown
{
    /// <summary>Tokens per sequence: an SMS-sized message, as the ceiling's synthetic sequences.</summary>
    public const int SegmentLength = 32;

    /// <summary>Row lengths swept: one sequence per row, then 2, 4 and 8 per row.</summary>
    public static readonly int[] RowLengths = [32, 64, 128, 256];

    public const string Dense = "dense layers (weight MatMul / DynamicQuantizeMatMul)";
    public const string Attention = "attention (Q·Kᵀ, ·V, softmax, mask, head transposes)";
    public const string NormActivation = "LayerNorm, GELU, bias and residual adds";
    public const string Other = "other (embeddings, mask building, casts)";

    public static EncoderBreakdownReport Measure(ModelProto fp32, ModelProto int8, EncoderShape shape, SessionSettings settings, int tokens, int profileRowLength, int rounds, IReadOnlyList<CeilingResult> kernels)
    {
        var rates = new List<RowLengthRate>();
        var fits = new List<AttentionFit>();
        var operators = new List<OperatorGroupTime>();
        var tuning = new List<TuningRate>();
        var callTimes = new Dictionary<string, double>();
        var denseTimes = new Dictionary<string, double>();
        foreach (var (precision, graph, served) in new[] { ("fp32", fp32, EncoderSession.Fp32AttentionCostLength), ("int8", int8, EncoderSession.Int8AttentionCostLength) })
        {
            var bytes = graph.ToByteArray();
            using (var session = new EncoderSession(bytes, [shape.Layers], settings))
            {
                var batches = RowLengths.Select(length => Batch(tokens, length)).ToList();
                try
                {
                    var perLength = TimeInterleaved(session, batches, rounds);
                    for (var i = 0; i < RowLengths.Length; i++)
                    {
                        rates.Add(new RowLengthRate(precision, RowLengths[i], batches[i].Rows, tokens / perLength[i]));
                    }

                    fits.Add(new AttentionFit(precision, FitAttentionLength(RowLengths, [.. perLength.Select(t => t / tokens)]), served));
                }
                finally
                {
                    batches.ForEach(b => b.Dispose());
                }
            }

            using (var tuned = new EncoderSession(bytes, [shape.Layers], settings with { CpuGraphTuning = true }))
            using (var untuned = new EncoderSession(bytes, [shape.Layers], settings with { CpuGraphTuning = false }))
            using (var unfusedAttention = new EncoderSession(bytes, [shape.Layers], settings with { CpuGraphTuning = true, FuseAttention = false }))
            using (var batch = Batch(tokens, profileRowLength))
            {
                var perCallTuned = TimeInterleaved([untuned, unfusedAttention, tuned], batch, rounds);
                tuning.Add(new TuningRate(precision, tokens / perCallTuned[0], tokens / perCallTuned[1], tokens / perCallTuned[2]));
            }

            var (groups, perCall) = Profile(bytes, shape, settings, tokens, profileRowLength, rounds);
            callTimes[precision] = perCall;
            denseTimes[precision] = groups.GetValueOrDefault(Dense);
            var total = groups.Values.Sum();
            foreach (var group in new[] { Dense, Attention, NormActivation, Other })
            {
                var ms = groups.GetValueOrDefault(group);
                operators.Add(new OperatorGroupTime(precision, group, ms, total > 0 ? ms / total : double.NaN));
            }
        }

        var denseFlops = tokens * shape.Layers * 2.0 * ((4.0 * shape.Hidden * shape.Hidden) + (2.0 * shape.Hidden * shape.Ffn));
        var int8Ceiling = CeilingBench.Best(kernels, "int8", CeilingBench.DefaultTokens[^1]);
        var int8Total = operators.Where(o => o.Precision == "int8").Sum(o => o.MillisecondsPerCall);
        var fp32Total = operators.Where(o => o.Precision == "fp32").Sum(o => o.MillisecondsPerCall);
        var int8Rest = int8Total - denseTimes["int8"];
        var denseAtCeiling = double.IsFinite(int8Ceiling) ? denseFlops / (int8Ceiling * 1e9) * 1e3 : double.NaN;
        var bound = new Int8Bound(
            MeasuredRatio: callTimes["fp32"] / callTimes["int8"],
            DenseSpeedup: denseTimes["fp32"] / denseTimes["int8"],
            Int8RestShare: int8Rest / int8Total,
            RatioAtInt8Ceiling: fp32Total / (int8Rest + denseAtCeiling),
            RatioWithFreeDenseLayers: fp32Total / int8Rest);
        return new EncoderBreakdownReport(tokens, profileRowLength, rates, fits, operators, bound, tuning);
    }

    /// <summary>
    /// Least squares of the cost per position c(L) = a + b·L; returns a / b, the length at which the part that grows with
    /// the row (attention) equals the part that does not (dense layers). +∞ when the cost does not grow.
    /// </summary>
    public static double FitAttentionLength(IReadOnlyList<int> lengths, IReadOnlyList<double> costPerPosition)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lengths.Count, 2);
        var meanL = lengths.Average();
        var meanC = costPerPosition.Average();
        double covariance = 0, variance = 0;
        for (var i = 0; i < lengths.Count; i++)
        {
            covariance += (lengths[i] - meanL) * (costPerPosition[i] - meanC);
            variance += (lengths[i] - meanL) * (lengths[i] - meanL);
        }

        var slope = covariance / variance;
        var intercept = meanC - (slope * meanL);
        return slope <= 0 || intercept <= 0 ? double.PositiveInfinity : intercept / slope;
    }

    /// <summary>
    /// Groups a profile trace's kernel times per call: dense layers are the MatMuls with a weight as second input (2-D,
    /// or not listed at all where ORT pre-packed it) and every quantised MatMul; attention is the 4-D products, softmax, transposes and reshapes and the 4-D mask add.
    /// </summary>
    public static Dictionary<string, double> GroupKernelTimes(JsonElement trace, int calls)
    {
        var groups = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var e in trace.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node"
                || !e.TryGetProperty("name", out var name) || name.GetString()?.EndsWith("_kernel_time", StringComparison.Ordinal) != true
                || !e.TryGetProperty("args", out var args) || !args.TryGetProperty("op_name", out var op))
            {
                continue;
            }

            var ranks = InputRanks(args);
            var group = op.GetString() switch
            {
                "DynamicQuantizeMatMul" or "MatMulInteger" or "MatMulIntegerToFloat" or "Gemm" => Dense,
                // A constant weight is pre-packed by ORT and missing from the listed inputs; attention multiplies two 4-D activations.
                "MatMul" or "FusedMatMul" => ranks.Count < 2 || ranks[1] == 2 ? Dense : Attention,
                "Softmax" or "Transpose" or "Reshape" or "MultiHeadAttention" => Attention,
                "Add" when ranks.Contains(4) => Attention,
                "SkipLayerNormalization" or "LayerNormalization" or "SimplifiedLayerNormalization" or "BiasGelu" or "Gelu" or "FastGelu" or "Add" or "Sum" or "Mul" or "Div" or "Erf" => NormActivation,
                _ => Other,
            };
            groups[group] = groups.GetValueOrDefault(group) + (e.GetProperty("dur").GetDouble() / 1000.0 / calls);
        }

        return groups;
    }

    private static List<int> InputRanks(JsonElement args)
    {
        var ranks = new List<int>();
        if (args.TryGetProperty("input_type_shape", out var inputs) && inputs.ValueKind == JsonValueKind.Array)
        {
            foreach (var input in inputs.EnumerateArray())
            {
                foreach (var typed in input.EnumerateObject())
                {
                    ranks.Add(typed.Value.GetArrayLength());
                }
            }
        }

        return ranks;
    }

    /// <summary><paramref name="tokens"/> tokens as sequences of <see cref="SegmentLength"/> random word pieces, packed into rows of <paramref name="length"/>.</summary>
    private static EncoderBatch Batch(int tokens, int length)
    {
        var perRow = length / SegmentLength;
        var rows = tokens / length;
        var batch = new EncoderBatch(rows, length);
        var random = new Random(length);
        var ids = new int[SegmentLength];
        for (var r = 0; r < rows; r++)
        {
            for (var s = 0; s < perRow; s++)
            {
                for (var i = 0; i < ids.Length; i++)
                {
                    ids[i] = random.Next(2000, 30000);
                }

                batch.SetSegment(r, s * SegmentLength, s + 1, ids);
            }
        }

        return batch;
    }

    /// <summary>Median seconds per call of each session on one batch, the sessions taking turns.</summary>
    private static double[] TimeInterleaved(IReadOnlyList<EncoderSession> sessions, EncoderBatch batch, int rounds)
        => TimeInTurns([.. sessions.Select(session => (Action)(() => session.Run(batch).Dispose()))], rounds);

    /// <summary>Median seconds per call of each batch on one session, the batches taking turns.</summary>
    private static double[] TimeInterleaved(EncoderSession session, List<EncoderBatch> batches, int rounds)
        => TimeInTurns([.. batches.Select(batch => (Action)(() => session.Run(batch).Dispose()))], rounds);

    /// <summary>Median seconds of each call after one warm-up each; the calls take turns so that load from elsewhere falls on all alike.</summary>
    private static double[] TimeInTurns(IReadOnlyList<Action> calls, int rounds)
    {
        foreach (var call in calls)
        {
            call();
        }

        var times = calls.Select(_ => new double[rounds]).ToList();
        for (var round = 0; round < rounds; round++)
        {
            for (var c = 0; c < calls.Count; c++)
            {
                var started = Stopwatch.GetTimestamp();
                calls[c]();
                times[c][round] = Stopwatch.GetElapsedTime(started).TotalSeconds;
            }
        }

        return [.. times.Select(BenchStats.Median)];
    }

    private static (Dictionary<string, double> Groups, double SecondsPerCall) Profile(byte[] graph, EncoderShape shape, SessionSettings settings, int tokens, int rowLength, int rounds)
    {
        var folder = Directory.CreateTempSubdirectory("streambert-profile-");
        try
        {
            using var batch = Batch(tokens, rowLength);
            string? trace;
            var times = new double[rounds];
            using (var session = new EncoderSession(graph, [shape.Layers], settings with { ProfilePrefix = Path.Combine(folder.FullName, "encoder") }))
            {
                for (var round = 0; round < rounds; round++)
                {
                    var started = Stopwatch.GetTimestamp();
                    session.Run(batch).Dispose();
                    times[round] = Stopwatch.GetElapsedTime(started).TotalSeconds;
                }

                trace = session.EndProfiling() ?? throw new InvalidOperationException("ONNX Runtime wrote no profile.");
            }

            using var document = JsonDocument.Parse(File.ReadAllText(trace));
            return (GroupKernelTimes(document.RootElement, rounds), BenchStats.Median(times));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    public static void WriteTables(EncoderBreakdownReport report, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine();
        output.WriteLine(string.Create(c, $"row length: {report.Tokens} tokens as sequences of {SegmentLength}, packed {SegmentLength}…{RowLengths[^1]} positions per row (serving session, packing rewrite)"));
        output.WriteLine();
        output.WriteLine("| precision | " + string.Join(" | ", RowLengths.Select(l => string.Create(c, $"L {l} tokens/s"))) + " | attention cost length (fit) | packing uses |");
        output.WriteLine("| --- |" + string.Concat(RowLengths.Select(_ => " --- |")) + " --- | --- |");
        foreach (var fit in report.Fits)
        {
            var cells = report.RowLengths.Where(r => r.Precision == fit.Precision).OrderBy(r => r.RowLength).Select(r => r.TokensPerSecond.ToString("F0", c));
            var length = double.IsFinite(fit.AttentionCostLength) ? fit.AttentionCostLength.ToString("F0", c) : "no growth measured";
            output.WriteLine($"| {fit.Precision} | {string.Join(" | ", cells)} | {length} | {fit.ServedConstant.ToString("F0", c)} |");
        }

        output.WriteLine();
        output.WriteLine(string.Create(c, $"operator profile (ONNX Runtime), {report.Tokens} tokens in rows of {report.ProfileRowLength}: kernel ms per call"));
        output.WriteLine();
        output.WriteLine("| group | fp32 ms | fp32 share | int8 ms | int8 share |");
        output.WriteLine("| --- | --- | --- | --- | --- |");
        foreach (var group in report.Operators.Select(o => o.Group).Distinct())
        {
            var fp32 = report.Operators.Single(o => o.Precision == "fp32" && o.Group == group);
            var int8 = report.Operators.Single(o => o.Precision == "int8" && o.Group == group);
            output.WriteLine(string.Create(c, $"| {group} | {fp32.MillisecondsPerCall:F1} | {fp32.Share:P0} | {int8.MillisecondsPerCall:F1} | {int8.Share:P0} |"));
        }

        if (report.Bound is { } b)
        {
            output.WriteLine();
            output.WriteLine(string.Create(c, $"int8 ÷ fp32 per call {b.MeasuredRatio:F2}; dense layers {b.DenseSpeedup:F2}× faster in int8; the rest is {b.Int8RestShare:P0} of int8's time."));
            output.WriteLine(string.Create(c, $"Amdahl: with int8 dense layers at the int8 kernel ceiling int8 ÷ fp32 ≤ {b.RatioAtInt8Ceiling:F2}; with dense layers taking no time ≤ {b.RatioWithFreeDenseLayers:F2}."));
        }

        if (report.Tuning.Count > 0)
        {
            output.WriteLine();
            output.WriteLine(string.Create(c, $"CPU graph tuning (Processor:CpuGraphTuning), same {report.Tokens} tokens in rows of {report.ProfileRowLength}, sessions timed in turns:"));
            output.WriteLine();
            output.WriteLine("| precision | untuned tokens/s | tuned, attention unfused | tuned | unfused ÷ untuned | tuned ÷ untuned |");
            output.WriteLine("| --- | --- | --- | --- | --- | --- |");
            foreach (var t in report.Tuning)
            {
                output.WriteLine(string.Create(c, $"| {t.Precision} | {t.UntunedTokensPerSecond:F0} | {t.WithoutAttentionTokensPerSecond:F0} | {t.TunedTokensPerSecond:F0} | {t.WithoutAttentionTokensPerSecond / t.UntunedTokensPerSecond:F3} | {t.Speedup:F3} |"));
            }

            if (report.Tuning.Count == 2)
            {
                var (fp32, int8) = (report.Tuning[0], report.Tuning[1]);
                output.WriteLine();
                output.WriteLine(string.Create(c, $"int8 ÷ fp32: untuned {int8.UntunedTokensPerSecond / fp32.UntunedTokensPerSecond:F2}, tuned {int8.TunedTokensPerSecond / fp32.TunedTokensPerSecond:F2}"));
            }
        }

        output.WriteLine();
    }
}
