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
}

public static class ExecutionDevices
{
    /// <summary>
    /// Builds session options on the best available provider. <c>GetAvailableProviders()</c> lists CUDA
    /// even where its libraries are absent, so the only reliable probe is to append it and catch the failure.
    /// </summary>
    public static SessionOptions Create(SessionSettings settings, out ExecutionDevice device)
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
