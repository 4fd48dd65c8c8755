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
    private readonly string[] _headInputNames = [];
    private long _calls;

    /// <summary>A session that outputs the hidden states of <paramref name="layers"/> (<see cref="Run(EncoderBatch)"/>).</summary>
    public EncoderSession(byte[] encoderOnnx, IReadOnlyCollection<int> layers, SessionSettings? settings = null)
        : this(encoderOnnx, layers, [], settings)
    {
    }

    /// <summary>
    /// A session that runs <paramref name="heads"/> inside the graph and outputs only their results
    /// (<see cref="RunHeads"/>; <see cref="HeadGraph"/>), or, with no heads, the hidden states of <paramref name="layers"/>.
    /// </summary>
    public EncoderSession(byte[] encoderOnnx, IReadOnlyCollection<int> layers, IReadOnlyList<GraphHead> heads, SessionSettings? settings = null)
    {
        settings ??= new SessionSettings();
        var model = Onnx.ModelProto.Parser.ParseFrom(encoderOnnx);
        LayerCount = EncoderGraph.CountLayers(model);
        Layers = [.. layers.Concat(heads.SelectMany(h => h.Spec.Layers)).Distinct().Order()];
        Heads = heads;
        HiddenSize = ReadHiddenSize(model);
        var patched = EncoderGraph.WithHiddenStateOutputs(model, Layers);
        SupportsPacking = settings.Packing && EncoderGraph.TryEnablePacking(patched);
        IsQuantized = patched.Graph.Node.Any(n => n.OpType == "DynamicQuantizeMatMul");
        AttentionCostLength = settings.AttentionCostLength ?? (IsQuantized ? Int8AttentionCostLength : Fp32AttentionCostLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(AttentionCostLength);
        if (heads.Count > 0)
        {
            // After the packing rewrite and after any quantisation (the file was quantised before it got here), so the
            // heads read the packed graph's hidden states and stay fp32.
            HeadGraph.Append(patched, heads, HiddenSize);
        }

        using var options = ExecutionDevices.Create(settings, out var device);
        Device = device;
        if (settings.CpuGraphTuning && device.Provider == "CPU")
        {
            // Attention fusion measured +1–5 % on the fp32 encoder and −2…−7 % on the int8 one on the reference CPU
            // (bench-ceiling --breakdown, README "CPU graph tuning"), so int8 keeps ORT's unfused attention.
            CpuTuning = CpuGraphTuning.Apply(patched, fuseAttention: SupportsPacking && settings.FuseAttention && !IsQuantized);
        }

        _profiling = settings.ProfilePrefix is not null;
        _session = new InferenceSession(EncoderGraph.ToBytes(patched), options);
        if (heads.Count > 0)
        {
            _outputNames = [.. heads.Select(h => h.Output)];
            var inputs = new List<string>(SupportsPacking ? PackedInputNames : InputNames);
            foreach (var head in heads)
            {
                inputs.AddRange(head.PerToken ? head.Spec.WordShape ? [head.IndexInput, head.ShapesInput] : [head.IndexInput] : [head.PoolInput, head.IndexInput]);
            }

            _headInputNames = [.. inputs];
            return;
        }

        _outputNames = new string[Layers.Count];
        for (var i = 0; i < Layers.Count; i++)
        {
            _outputNames[i] = EncoderGraph.OutputName(Layers[i]);
            _outputIndexOfLayer[Layers[i]] = i;
        }
    }

    /// <summary>The heads run inside the graph, in the order of <see cref="RunHeads"/>' feeds and outputs; empty for a hidden-state session.</summary>
    public IReadOnlyList<GraphHead> Heads { get; }

    /// <summary>What <see cref="CpuGraphTuning"/> rewrote for this session; null when it did not run (CUDA, or switched off).</summary>
    public CpuGraphTuningResult? CpuTuning { get; }

    /// <summary>ONNX Runtime calls made by this session so far (both kinds of run).</summary>
    public long Calls => Interlocked.Read(ref _calls);

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
        if (Heads.Count > 0)
        {
            throw new InvalidOperationException("This session runs its heads in the graph and outputs no hidden states; call RunHeads.");
        }

        Interlocked.Increment(ref _calls);
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
    /// Runs the encoder and the heads in one call; <paramref name="feeds"/> holds one entry per head of <see cref="Heads"/>,
    /// in that order. The caller disposes the returned outputs after reading them.
    /// </summary>
    public HeadOutputs RunHeads(EncoderBatch batch, IReadOnlyList<HeadFeed> feeds)
    {
        if (Heads.Count == 0)
        {
            throw new InvalidOperationException("This session has no heads in its graph; call Run.");
        }

        ArgumentOutOfRangeException.ThrowIfNotEqual(feeds.Count, Heads.Count, nameof(feeds));
        Interlocked.Increment(ref _calls);
        long[] shape = [batch.Rows, batch.Length];
        var values = new List<OrtValue>(_headInputNames.Length);
        try
        {
            values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.InputIds, shape));
            values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.AttentionMask, shape));
            values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.TokenTypeIds, shape));
            if (SupportsPacking)
            {
                values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.PositionIds, shape));
            }

            for (var h = 0; h < Heads.Count; h++)
            {
                var head = Heads[h];
                var feed = feeds[h];
                if (!head.PerToken)
                {
                    values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, feed.Pool[..(batch.Rows * feed.Slots * batch.Length)], [batch.Rows, feed.Slots, batch.Length]));
                }

                values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, feed.Indices[..feed.Count], [feed.Count]));
                if (head.PerToken && head.Spec.WordShape)
                {
                    values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, feed.Shapes[..(feed.Count * WordShape.Size)], [feed.Count, WordShape.Size]));
                }
            }

            return new HeadOutputs(_session.Run(_runOptions, _headInputNames, values, _outputNames));
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
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

/// <summary>
/// What one head of a <see cref="EncoderSession.RunHeads"/> call reads besides the encoder inputs (see <see cref="HeadGraph"/>).
/// Sequence heads: <see cref="Count"/> sequences, the rows × <see cref="Slots"/> × length pooling weights in
/// <see cref="Pool"/>, and each sequence's slot (row × slots + slot) in <see cref="Indices"/>. Token heads:
/// <see cref="Count"/> tokens, their flat positions (row × length + position) in <see cref="Indices"/> and, with word
/// shapes, <see cref="Count"/> × <see cref="WordShape.Size"/> values in <see cref="Shapes"/>. Memory may be longer than
/// needed (pooled buffers) but never empty, as ONNX Runtime needs an address even for a tensor of no elements.
/// </summary>
public readonly record struct HeadFeed(int Count, int Slots, Memory<float> Pool, Memory<long> Indices, Memory<float> Shapes);

/// <summary>The outputs of one <see cref="EncoderSession.RunHeads"/> call, one per head, owned by ONNX Runtime until disposed.</summary>
public sealed class HeadOutputs : IDisposable
{
    private readonly IDisposableReadOnlyCollection<OrtValue> _values;

    internal HeadOutputs(IDisposableReadOnlyCollection<OrtValue> values) => _values = values;

    /// <summary>Head <paramref name="head"/>'s output, row-major: logits [sequences, classes] or tag probabilities [tokens, tags].</summary>
    public ReadOnlySpan<float> Of(int head) => _values[head].GetTensorDataAsSpan<float>();

    public void Dispose() => _values.Dispose();
}
