using Microsoft.ML.OnnxRuntime;

namespace StreamBert.Engine.Inference;

/// <summary>
/// One ONNX Runtime session over a BERT encoder graph rewritten to output the hidden states of
/// <see cref="Layers"/>. Not thread-safe by design: the processor calls it from its single engine thread,
/// training calls it from one loop.
/// </summary>
public sealed class EncoderSession : IDisposable
{
    private static readonly string[] InputNames = ["input_ids", "attention_mask", "token_type_ids"];
    private static readonly string[] PackedInputNames = ["input_ids", "attention_mask", "token_type_ids", EncoderGraph.PositionIdsInput];
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _outputNames;
    private readonly Dictionary<int, int> _outputIndexOfLayer = [];
    private readonly bool _profiling;

    public EncoderSession(byte[] encoderOnnx, IReadOnlyCollection<int> layers, SessionSettings? settings = null)
    {
        var model = Onnx.ModelProto.Parser.ParseFrom(encoderOnnx);
        LayerCount = EncoderGraph.CountLayers(model);
        Layers = [.. layers.Distinct().Order()];
        var patched = EncoderGraph.WithHiddenStateOutputs(model, Layers);
        SupportsPacking = (settings?.Packing ?? true) && EncoderGraph.TryEnablePacking(patched);
        IsQuantized = patched.Graph.Node.Any(n => n.OpType == "DynamicQuantizeMatMul");
        AttentionCostLength = settings?.AttentionCostLength ?? (IsQuantized ? Int8AttentionCostLength : Fp32AttentionCostLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(AttentionCostLength);
        HiddenSize = ReadHiddenSize(model);
        using var options = ExecutionDevices.Create(settings ?? new SessionSettings(), out var device);
        Device = device;
        _profiling = settings?.ProfilePrefix is not null;
        _session = new InferenceSession(EncoderGraph.ToBytes(patched), options);
        _outputNames = new string[Layers.Count];
        for (var i = 0; i < Layers.Count; i++)
        {
            _outputNames[i] = EncoderGraph.OutputName(Layers[i]);
            _outputIndexOfLayer[Layers[i]] = i;
        }
    }

    public ExecutionDevice Device { get; }

    /// <summary>
    /// Whether several sequences may share a row (<see cref="EncoderBatch.SetSegment"/>): the graph was rewritten to a
    /// block-diagonal attention mask and per-sequence positions. False for a graph the rewrite does not recognise (or
    /// when <see cref="SessionSettings.Packing"/> is off): then every sequence needs a row of its own.
    /// </summary>
    public bool SupportsPacking { get; }

    /// <summary>Whether the graph's dense layers run in int8 (<c>DynamicQuantizeMatMul</c>): attention then costs relatively more.</summary>
    public bool IsQuantized { get; }

    /// <summary>
    /// The row length at which a position's attention costs as much as its dense layers, as packing estimates a row's
    /// cost (<see cref="ModelSet.Pack(IReadOnlyList{int}, bool, double)"/>): rows × length × (1 + length / this).
    /// Measured, not counted: attention's small per-head products run far below the dense kernels' rate, and int8 makes
    /// the dense layers, not attention, faster (<c>streambert bench-ceiling</c>, "row length" table; README, Benchmarks).
    /// </summary>
    public double AttentionCostLength { get; }

    /// <summary>fp32 encoder: the fitted attention cost length on this project's 2-core reference machine (README).</summary>
    public const double Fp32AttentionCostLength = 1500;

    /// <summary>int8 encoder: the fitted attention cost length on this project's 2-core reference machine (README).</summary>
    public const double Int8AttentionCostLength = 720;

    /// <summary>The hidden-state layers this session outputs, ascending.</summary>
    public IReadOnlyList<int> Layers { get; }

    public int LayerCount { get; }

    public int HiddenSize { get; }

    public static EncoderSession FromFile(string path, IReadOnlyCollection<int> layers, SessionSettings? settings = null)
        => new(File.ReadAllBytes(path), layers, settings);

    /// <summary>Runs the encoder; the caller disposes the returned hidden states after reading them.</summary>
    public HiddenStates Run(EncoderBatch batch)
    {
        long[] shape = [batch.Rows, batch.Length];
        using var ids = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.InputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.AttentionMask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.TokenTypeIds, shape);
        if (!SupportsPacking)
        {
            return new HiddenStates(_session.Run(_runOptions, InputNames, [ids, mask, types], _outputNames), _outputIndexOfLayer, batch.Rows, batch.Length, HiddenSize);
        }

        using var positions = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.PositionIds, shape);
        var outputs = _session.Run(_runOptions, PackedInputNames, [ids, mask, types, positions], _outputNames);
        return new HiddenStates(outputs, _outputIndexOfLayer, batch.Rows, batch.Length, HiddenSize);
    }

    /// <summary>
    /// Ends ONNX Runtime's profiling and returns the trace file's path; null when the session was not created with
    /// <see cref="SessionSettings.ProfilePrefix"/>.
    /// </summary>
    public string? EndProfiling() => _profiling ? _session.EndProfiling() : null;

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }

    private static int ReadHiddenSize(Onnx.ModelProto model)
    {
        var weight = model.Graph.Initializer.FirstOrDefault(i => i.Name == "embeddings.LayerNorm.weight")
            ?? throw new InvalidDataException("The encoder graph has no embeddings.LayerNorm.weight initializer.");
        return checked((int)weight.Dims[0]);
    }
}

/// <summary>Hidden states of one batch, [rows, length, hidden] per layer, owned by ONNX Runtime until disposed.</summary>
public sealed class HiddenStates : IDisposable
{
    private readonly IDisposableReadOnlyCollection<OrtValue> _values;
    private readonly Dictionary<int, int> _indexOfLayer;

    internal HiddenStates(IDisposableReadOnlyCollection<OrtValue> values, Dictionary<int, int> indexOfLayer, int rows, int length, int hidden)
    {
        _values = values;
        _indexOfLayer = indexOfLayer;
        Rows = rows;
        Length = length;
        Hidden = hidden;
    }

    public int Rows { get; }
    public int Length { get; }
    public int Hidden { get; }

    public ReadOnlySpan<float> Layer(int layer) => _values[_indexOfLayer[layer]].GetTensorDataAsSpan<float>();

    /// <summary>The vector of one token of one row in one layer.</summary>
    public ReadOnlySpan<float> Token(int layer, int row, int position)
        => Layer(layer).Slice(((row * Length) + position) * Hidden, Hidden);

    public void Dispose() => _values.Dispose();
}
