using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using StreamBert.Engine.Inference;

namespace StreamBert.Cli.Bench;

/// <summary>One matrix-multiply kernel at one encoder shape, timed through ONNX Runtime.</summary>
/// <param name="Kernel">ONNX operator: MatMul (fp32), MatMulInteger (u8×s8→i32), DynamicQuantizeMatMul or MatMulIntegerToFloat (int8, com.microsoft).</param>
/// <param name="GigaFlopsPerSecond">2·M·K·N per call over the median call time; <see cref="double.NaN"/> where ORT refused the kernel.</param>
/// <param name="Error">Why ORT refused the kernel, or null.</param>
internal sealed record CeilingResult(string Kernel, string Precision, int Tokens, int K, int N, double MedianMicroseconds, double GigaFlopsPerSecond, string? Error);

/// <summary>
/// The matrix-multiply ceiling of this machine as ONNX Runtime reaches it: single-node graphs built in memory at the
/// encoder's own shapes ([T×384]·[384×384] and [T×384]·[384×1536]), run with the serving session options. Measuring
/// through ORT rather than a BLAS micro-benchmark makes the figure the one the encoder could at best reach: same
/// kernels, same thread pool, same per-call overhead.
/// </summary>
internal static class CeilingBench
{
    /// <summary>One SMS-sized sequence (the single-message call) and one full token-budget batch.</summary>
    public static readonly int[] DefaultTokens = [32, 2048];

    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>Measures every kernel at every shape; <paramref name="samples"/> timed samples of at least <paramref name="sampleTime"/> each, after warm-up.</summary>
    public static List<CeilingResult> Measure(SessionSettings settings, IReadOnlyList<int> tokens, int hidden, int ffn, int samples, TimeSpan sampleTime)
    {
        var results = new List<CeilingResult>();
        foreach (var t in tokens)
        {
            foreach (var n in new[] { hidden, ffn })
            {
                foreach (var kernel in Kernels)
                {
                    results.Add(MeasureOne(kernel, settings, t, hidden, n, samples, sampleTime));
                }
            }
        }

        return results;
    }

    /// <summary>Best finite GFLOP/s among kernels of one precision at one token count (the ceiling a precision can claim).</summary>
    public static double Best(IEnumerable<CeilingResult> results, string precision, int tokens)
    {
        var best = double.NaN;
        foreach (var r in results)
        {
            if (r.Precision == precision && r.Tokens == tokens && double.IsFinite(r.GigaFlopsPerSecond) && !(r.GigaFlopsPerSecond <= best))
            {
                best = r.GigaFlopsPerSecond;
            }
        }

        return best;
    }

    private static readonly Kernel[] Kernels =
    [
        new("MatMul", "fp32", "", TensorProto.Types.DataType.Float),
        new("MatMulInteger", "int8", "", TensorProto.Types.DataType.Uint8),
        new("DynamicQuantizeMatMul", "int8", MicrosoftDomain, TensorProto.Types.DataType.Float),
        new("MatMulIntegerToFloat", "int8", MicrosoftDomain, TensorProto.Types.DataType.Uint8),
    ];

    private static CeilingResult MeasureOne(Kernel kernel, SessionSettings settings, int m, int k, int n, int samples, TimeSpan sampleTime)
    {
        var bytes = BuildGraph(kernel, m, k, n).ToByteArray();
        // The same options the encoder gets (threads, optimisation level), pinned to CPU: the ceiling is of these cores.
        using var options = ExecutionDevices.Create(settings with { Device = DevicePreference.Cpu }, out _);
        var created = false;
        try
        {
            using var session = new InferenceSession(bytes, options);
            created = true;
            return Time(session, kernel, m, k, n, samples, sampleTime);
        }
        catch (OnnxRuntimeException ex) when (!created)
        {
            // An ORT build without this contrib kernel: report it as missing rather than fail the whole section.
            return new CeilingResult(kernel.Op, kernel.Precision, m, k, n, double.NaN, double.NaN, ex.Message.Split('\n')[0]);
        }
    }

    private static CeilingResult Time(InferenceSession session, Kernel kernel, int m, int k, int n, int samples, TimeSpan sampleTime)
    {
        using (var runOptions = new RunOptions())
        using (var input = CreateInput(kernel.Input, m, k))
        using (var output = kernel.Op == "MatMulInteger"
            ? OrtValue.CreateTensorValueFromMemory(new int[m * n], [m, n])
            : OrtValue.CreateTensorValueFromMemory(new float[m * n], [m, n]))
        {
            OrtValue[] inputs = [input];
            OrtValue[] outputs = [output];
            string[] inputNames = ["A"];
            string[] outputNames = ["Y"];
            void Call() => session.Run(runOptions, inputNames, inputs, outputNames, outputs);

            // Warm-up: first calls pre-pack weights and pick kernels; then size the inner loop so one sample
            // is long enough for the timer and short calls (T = 32 is tens of µs) are not dominated by noise.
            var clock = Stopwatch.StartNew();
            var warm = 0;
            while (warm < 3 || clock.Elapsed < TimeSpan.FromMilliseconds(20))
            {
                Call();
                warm++;
            }

            var perCall = clock.Elapsed / warm;
            var calls = Math.Max(1, (int)Math.Ceiling(sampleTime / perCall));
            var times = new double[samples];
            for (var s = 0; s < samples; s++)
            {
                var started = Stopwatch.GetTimestamp();
                for (var c = 0; c < calls; c++)
                {
                    Call();
                }

                times[s] = Stopwatch.GetElapsedTime(started).TotalSeconds / calls;
            }

            var median = BenchStats.Median(times);
            return new CeilingResult(kernel.Op, kernel.Precision, m, k, n, median * 1e6, 2.0 * m * k * n / median / 1e9, null);
        }
    }

    private static OrtValue CreateInput(TensorProto.Types.DataType type, int m, int k)
    {
        var random = new Random(m * 31 + k);
        if (type == TensorProto.Types.DataType.Uint8)
        {
            var data = new byte[m * k];
            random.NextBytes(data);
            return OrtValue.CreateTensorValueFromMemory(data, [m, k]);
        }

        var floats = new float[m * k];
        for (var i = 0; i < floats.Length; i++)
        {
            floats[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return OrtValue.CreateTensorValueFromMemory(floats, [m, k]);
    }

    /// <summary>
    /// Y = A·B with B a constant initializer, as in the encoder (constant weights let ORT pre-pack them once).
    /// Int8 weights are symmetric (zero point 0) with one scale per output column, like <c>Int8Quantizer</c>'s.
    /// </summary>
    private static ModelProto BuildGraph(Kernel kernel, int m, int k, int n)
    {
        var random = new Random(k * 7 + n);
        var graph = new GraphProto { Name = $"ceiling_{kernel.Op}_{m}x{k}x{n}" };
        var node = new NodeProto { OpType = kernel.Op, Domain = kernel.Domain, Name = kernel.Op, Input = { "A", "B" }, Output = { "Y" } };
        var outputType = TensorProto.Types.DataType.Float;
        if (kernel.Precision == "fp32")
        {
            var weights = new float[k * n];
            for (var i = 0; i < weights.Length; i++)
            {
                weights[i] = (float)((random.NextDouble() * 0.2) - 0.1);
            }

            graph.Initializer.Add(Tensor("B", TensorProto.Types.DataType.Float, [k, n], MemoryMarshal.AsBytes(weights.AsSpan())));
        }
        else
        {
            var weights = new byte[k * n];
            random.NextBytes(weights);
            graph.Initializer.Add(Tensor("B", TensorProto.Types.DataType.Int8, [k, n], weights));
            var scales = Enumerable.Repeat(0.01f, n).ToArray();
            switch (kernel.Op)
            {
                case "MatMulInteger":
                    outputType = TensorProto.Types.DataType.Int32;
                    break;
                case "DynamicQuantizeMatMul":
                    // Inputs: A (fp32, quantised per call by ORT), B, b_scale.
                    graph.Initializer.Add(Tensor("b_scale", TensorProto.Types.DataType.Float, [n], MemoryMarshal.AsBytes(scales.AsSpan())));
                    node.Input.Add("b_scale");
                    break;
                default:
                    // MatMulIntegerToFloat inputs: A (u8), B, a_scale, b_scale, a_zero_point.
                    float[] aScale = [0.02f];
                    byte[] aZero = [128];
                    graph.Initializer.Add(Tensor("a_scale", TensorProto.Types.DataType.Float, [], MemoryMarshal.AsBytes(aScale.AsSpan())));
                    graph.Initializer.Add(Tensor("b_scale", TensorProto.Types.DataType.Float, [n], MemoryMarshal.AsBytes(scales.AsSpan())));
                    graph.Initializer.Add(Tensor("a_zero_point", TensorProto.Types.DataType.Uint8, [], aZero));
                    node.Input.Add("a_scale");
                    node.Input.Add("b_scale");
                    node.Input.Add("a_zero_point");
                    break;
            }
        }

        graph.Node.Add(node);
        graph.Input.Add(Value("A", kernel.Input, m, k));
        graph.Output.Add(Value("Y", outputType, m, n));
        var model = new ModelProto { IrVersion = 8, ProducerName = "streambert-bench-ceiling", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        return model;
    }

    private static TensorProto Tensor(string name, TensorProto.Types.DataType type, long[] dims, ReadOnlySpan<byte> raw)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, int rows, int cols) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)type,
                Shape = new TensorShapeProto
                {
                    Dim =
                    {
                        new TensorShapeProto.Types.Dimension { DimValue = rows },
                        new TensorShapeProto.Types.Dimension { DimValue = cols },
                    },
                },
            },
        },
    };

    private sealed record Kernel(string Op, string Precision, string Domain, TensorProto.Types.DataType Input);
}

/// <summary>Forward-pass FLOPs of a BERT encoder, counted from its shapes (multiply-adds × 2; softmax, LayerNorm, GELU ignored: &lt; 1 %).</summary>
internal static class EncoderFlops
{
    /// <summary>
    /// Per token of a sequence of length <paramref name="sequenceLength"/>, per layer:
    /// QKV projections 3·H·H, attention output H·H, FFN H·F·2 multiply-adds — all ×2 FLOPs —
    /// plus attention scores Q·Kᵀ and probabilities·V, each L·H multiply-adds per token, ×2 FLOPs: 2·2·L·H.
    /// Total = layers · (2·(4·H² + 2·H·F) + 4·L·H). MiniLM-L6 (H 384, F 1536) at L 32: 6 · (2·(589,824 + 1,179,648) + 49,152)
    /// = 21,528,576 FLOPs per token.
    /// </summary>
    public static double PerToken(int layers, int hidden, int ffn, double sequenceLength)
        => layers * ((2.0 * ((4.0 * hidden * hidden) + (2.0 * hidden * ffn))) + (4.0 * sequenceLength * hidden));

    /// <summary>A whole sequence of <paramref name="length"/> real tokens.</summary>
    public static double PerSequence(int layers, int hidden, int ffn, int length) => length * PerToken(layers, hidden, ffn, length);
}

/// <summary>The shape of a BERT encoder as its graph declares it (layers, hidden width, FFN width).</summary>
internal sealed record EncoderShape(int Layers, int Hidden, int Ffn)
{
    public static EncoderShape Read(ModelProto model)
    {
        int Dim(string name) => checked((int)(model.Graph.Initializer.FirstOrDefault(i => i.Name == name)
            ?? throw new InvalidDataException($"The encoder graph has no {name} initializer.")).Dims[0]);
        return new EncoderShape(EncoderGraph.CountLayers(model), Dim("embeddings.LayerNorm.weight"), Dim("encoder.layer.0.intermediate.dense.bias"));
    }

    public double FlopsPerToken(double sequenceLength) => EncoderFlops.PerToken(Layers, Hidden, Ffn, sequenceLength);

    public double FlopsPerSequence(int length) => EncoderFlops.PerSequence(Layers, Hidden, Ffn, length);
}

/// <summary>The encoder's achieved rate in one calling mode, as a share of the kernel ceiling at the matching token count.</summary>
/// <param name="Call">"1 per call" (one sequence, ceiling at T = 32) or "batched" (ceiling at T = 2048).</param>
/// <param name="Source">Where the tokens/s come from: the engine bench on the SMS corpus, or synthetic full-length sequences.</param>
internal sealed record EncoderCeilingShare(string Precision, string Call, string Source, double TokensPerSecond, double FlopsPerToken, double GigaFlopsPerSecond, double ShareOfFp32Ceiling, double ShareOfInt8Ceiling);

internal sealed record CeilingReport(string Cpu, int IntraOpThreads, EncoderShape Shape, double FlopsPerTokenAt32, IReadOnlyList<CeilingResult> Kernels, IReadOnlyList<EncoderCeilingShare> Encoder)
{
    /// <summary>Row-length sweep and operator profile (<c>bench-ceiling --breakdown</c>); null when not asked for.</summary>
    public EncoderBreakdownReport? Breakdown { get; init; }

    public static EncoderCeilingShare Share(IReadOnlyList<CeilingResult> kernels, string precision, string call, string source, int ceilingTokens, double tokensPerSecond, double flopsPerToken)
    {
        var gflops = tokensPerSecond * flopsPerToken / 1e9;
        return new EncoderCeilingShare(precision, call, source, tokensPerSecond, flopsPerToken, gflops,
            gflops / CeilingBench.Best(kernels, "fp32", ceilingTokens), gflops / CeilingBench.Best(kernels, "int8", ceilingTokens));
    }

    public void WriteTable(TextWriter output)
    {
        output.WriteLine();
        output.WriteLine($"matrix-multiply ceiling through ONNX Runtime ({Cpu}, IntraOpNumThreads {(IntraOpThreads == 0 ? "0 = one per core" : IntraOpThreads)}); encoder {Shape.Layers} layers, hidden {Shape.Hidden}, FFN {Shape.Ffn}: {FlopsPerTokenAt32 / 1e6:F2} MFLOP per token at L 32");
        output.WriteLine();
        output.WriteLine("| kernel | precision | T × K × N | µs per call | GFLOP/s |");
        output.WriteLine("| --- | --- | --- | --- | --- |");
        foreach (var r in Kernels)
        {
            var rate = r.Error is null ? r.GigaFlopsPerSecond.ToString("F1", System.Globalization.CultureInfo.InvariantCulture) : "not supported: " + r.Error;
            output.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| {r.Kernel} | {r.Precision} | {r.Tokens} × {r.K} × {r.N} | {r.MedianMicroseconds:F1} | {rate} |"));
        }

        if (Encoder.Count == 0)
        {
            return;
        }

        output.WriteLine();
        output.WriteLine("| encoder | call | tokens/s | GFLOP/s | share of fp32 ceiling | share of int8 ceiling | source |");
        output.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var e in Encoder)
        {
            output.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| {e.Precision} | {e.Call} | {e.TokensPerSecond:F0} | {e.GigaFlopsPerSecond:F1} | {e.ShareOfFp32Ceiling:P0} | {e.ShareOfInt8Ceiling:P0} | {e.Source} |"));
        }

        output.WriteLine();
    }

    /// <summary>The CPU's model name from /proc/cpuinfo (what <c>lscpu</c> prints), so a figure names the machine it was measured on.</summary>
    public static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal))
                {
                    return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return "unknown CPU";
    }
}
