using Microsoft.ML.OnnxRuntime;

namespace StreamBert.Engine.Inference;

/// <summary>Where ONNX Runtime runs the encoder.</summary>
public enum DevicePreference
{
    /// <summary>CUDA when its provider loads, otherwise CPU.</summary>
    Auto,
    Cpu,
    Cuda,
}

/// <summary>The execution provider a session ended up with and why.</summary>
public sealed record ExecutionDevice(string Provider, string Reason);

/// <summary>Options for an ONNX Runtime encoder session.</summary>
public sealed record SessionSettings
{
    public DevicePreference Device { get; init; } = DevicePreference.Auto;
    public int CudaDeviceId { get; init; }

    /// <summary>Threads per operator; 0 = one per core (right for a dedicated engine thread on CPU).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Let several short sequences share one encoder row (block-diagonal attention), so batches carry almost no padding.</summary>
    public bool Packing { get; init; } = true;

    /// <summary>Packing's attention cost length (<see cref="EncoderSession.AttentionCostLength"/>); null = the measured default of the graph's precision.</summary>
    public double? AttentionCostLength { get; init; }

    /// <summary>
    /// Run the task heads inside the encoder's ONNX Runtime graph (<see cref="HeadGraph"/>): one call per batch returns
    /// the heads' outputs. Off, the session returns hidden states and the C# heads read them (the path before heads
    /// moved into the graph, kept to compare the two).
    /// </summary>
    public bool HeadsInGraph { get; init; } = true;

    /// <summary>
    /// On the CPU provider, rewrite the graph so ONNX Runtime picks its faster CPU kernels (<see cref="CpuGraphTuning"/>:
    /// residual Adds kept apart from the layer norms, quantised MatMuls adding their own bias); the function stays the
    /// same. Off, ONNX Runtime's own fusions decide, as before (kept to measure the two).
    /// </summary>
    public bool CpuGraphTuning { get; init; } = true;

    /// <summary>
    /// Part of <see cref="CpuGraphTuning"/>: each attention block of a packed fp32 graph becomes one
    /// <c>MultiHeadAttention</c> (int8 graphs keep ORT's unfused attention, measured faster there). Off only to measure
    /// its share (<c>bench-ceiling --breakdown</c>).
    /// </summary>
    public bool FuseAttention { get; init; } = true;

    /// <summary>When set, ONNX Runtime writes the graph it runs, after its own optimisations, to this file (which fusions ran).</summary>
    public string? OptimizedModelPath { get; init; }

    /// <summary>Which encoder graph a bundle is served with (<see cref="EncoderPrecision"/>).</summary>
    public EncoderPrecision Precision { get; init; } = EncoderPrecision.Fp32;

    /// <summary>
    /// When set, ONNX Runtime writes a per-operator profile (a JSON trace) under this path prefix; read it back with
    /// <see cref="EncoderSession.EndProfiling"/>. Off in serving: every call appends events.
    /// </summary>
    public string? ProfilePrefix { get; init; }
}

/// <summary>
/// The encoder graph served: the bundle's fp32 graph, or its int8 copy (the manifest's <c>int8Encoder</c>, else the
/// fp32 graph quantised once into the cache). int8 runs 2–3× faster on cores with VNNI/AMX at a measured F1 cost
/// (README, "int8"); heads are trained on fp32 features and read int8 features unchanged.
/// </summary>
public enum EncoderPrecision
{
    Fp32,

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "int8 is the precision's own name (Processor:Precision=int8), not a C# type.")]
    Int8,
}

public static class EncoderPrecisions
{
    /// <summary>The configuration spellings, in the order <see cref="Parse"/> names them in its error.</summary>
    public static readonly IReadOnlyList<string> Names = ["fp32", "int8"];

    public static string Name(EncoderPrecision precision) => precision == EncoderPrecision.Int8 ? "int8" : "fp32";

    /// <summary><c>fp32</c> or <c>int8</c> (any case); throws <see cref="ArgumentException"/> naming the accepted values otherwise.</summary>
    public static EncoderPrecision Parse(string? value, string setting = "Precision") =>
        value?.Trim().ToUpperInvariant() switch
        {
            "FP32" => EncoderPrecision.Fp32,
            "INT8" => EncoderPrecision.Int8,
            _ => throw new ArgumentException($"{setting} '{value}' is not a precision; use {string.Join(" or ", Names)}.", nameof(value)),
        };

    public static bool TryParse(string? value, out EncoderPrecision precision)
    {
        precision = EncoderPrecision.Fp32;
        if (value?.Trim().ToUpperInvariant() is not ("FP32" or "INT8"))
        {
            return false;
        }

        precision = Parse(value);
        return true;
    }
}

public static class ExecutionDevices
{
    /// <summary>
    /// Builds session options on the best available provider. <c>GetAvailableProviders()</c> lists CUDA
    /// even where its libraries are absent, so the only reliable probe is to append it and catch the failure.
    /// </summary>
    public static SessionOptions Create(SessionSettings settings, out ExecutionDevice device)
    {
        var options = CreateForDevice(settings, out device);
        if (settings.OptimizedModelPath is { } optimized)
        {
            options.OptimizedModelFilePath = optimized;
        }

        if (settings.ProfilePrefix is { } prefix)
        {
            // The prefix first: enabling reads the prefix set at that moment.
            options.ProfileOutputPathPrefix = prefix;
            options.EnableProfiling = true;
        }

        return options;
    }

    private static SessionOptions CreateForDevice(SessionSettings settings, out ExecutionDevice device)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = settings.IntraOpThreads,
            InterOpNumThreads = 1,
        };
        if (settings.Device == DevicePreference.Cpu)
        {
            device = new ExecutionDevice("CPU", "CPU requested");
            return options;
        }

        try
        {
            options.AppendExecutionProvider_CUDA(settings.CudaDeviceId);
            device = new ExecutionDevice("CUDA", $"CUDA provider loaded on device {settings.CudaDeviceId}");
            return options;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
        {
            if (settings.Device == DevicePreference.Cuda)
            {
                options.Dispose();
                throw new InvalidOperationException("CUDA was requested but its execution provider does not load: " + ex.Message, ex);
            }

            options.Dispose();
            var cpu = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                IntraOpNumThreads = settings.IntraOpThreads,
                InterOpNumThreads = 1,
            };
            device = new ExecutionDevice("CPU", "CUDA provider unavailable: " + FirstLine(ex.Message));
            return cpu;
        }
    }

    private static string FirstLine(string message)
    {
        var newline = message.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? message : message[..newline];
    }
}
