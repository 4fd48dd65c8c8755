using Google.Protobuf;
using Onnx;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;

namespace StreamBert.Engine.Inference;

/// <summary>
/// A task head to run inside the encoder's ONNX Runtime session: its weights, the layers it reads and how it reads them.
/// <paramref name="PerToken"/>: one output per token (NER) rather than one per sequence.
/// </summary>
public sealed record GraphHead(string Task, HeadSpec Spec, DenseHead Head, bool PerToken)
{
    /// <summary>
    /// Sequence heads: float [rows, slots, length], slot k of a row holding the pooling weights of the k-th sequence in
    /// that row that wants this head (see <see cref="HeadGraph"/>).
    /// </summary>
    public string PoolInput => $"pool.{Task}";

    /// <summary>
    /// int64 [n]: sequence heads, each sequence's slot (row × slots + slot), in output order; token heads, the flat
    /// positions (row × length + position) of the tokens to tag.
    /// </summary>
    public string IndexInput => PerToken ? $"tokens.{Task}" : $"slots.{Task}";

    /// <summary>Token heads with word shapes: float [tokens, <see cref="WordShape.Size"/>], each token's shape.</summary>
    public string ShapesInput => $"shapes.{Task}";

    /// <summary>Sequence heads: logits [sequences, classes]; token heads: tag probabilities [tokens, tags].</summary>
    public string Output => PerToken ? $"tags.{Task}" : $"logits.{Task}";
}

/// <summary>
/// Appends task heads to an encoder graph, so that one ONNX Runtime call per batch returns what the heads output rather
/// than hidden states the C# heads then read (<see cref="DenseHead.Forward(ReadOnlySpan{float}, Span{float})"/>).
/// </summary>
/// <remarks>
/// <para>
/// Each head reads the concatenation over its layers of the hidden states, as <see cref="Features"/> builds it. A sequence
/// head pools with a batched product: its pool input [rows, slots, length] holds, in slot k of a row, 1/n at the n
/// positions of the k-th sequence of that row that wants the head (mean pooling) or 1 at its first position
/// (<c>cls</c>), so packed rows (several sequences per row) pool exactly as
/// <see cref="Features.Sequence(HiddenStates, IReadOnlyList{int}, string, int, int, int, Span{float})"/> does; the slot
/// index input then gathers the sequences' vectors in output order. A row's slots see only its own positions, so this
/// costs rows × slots × length × hidden, not sequences × all positions × hidden as one pooling matrix over the whole
/// batch would (measured: that version ran ~1.5 % slower than the C# heads on SMS batches). A token head gathers the
/// positions it is asked for (only the tokens of sequences that want tags, none of the padding) from each layer,
/// appends their word shapes when its spec says so, and ends in a softmax.
/// </para>
/// <para>
/// Then the head itself as <see cref="DenseHead"/> computes it: x̂ = (x − mean)·(1/std), optional hidden layer and
/// activation (ReLU, or GELU in the same tanh form and operation order as <c>Activations</c>), output layer. Weights
/// are stored transposed ([in, out]) so MatMul needs no transpose at run time. The nodes are plain fp32 ONNX operators
/// added after any quantisation (the int8 graph comes from the cache, then gets its heads at load), so heads run
/// fp32 at either precision and the int8 cache, keyed by the fp32 source graph, stays independent of the heads.
/// </para>
/// </remarks>
public static class HeadGraph
{
    private const string Prefix = "StreamBert_head_";

    /// <summary>
    /// Appends <paramref name="heads"/> to <paramref name="model"/> (in place), which must already output <c>hidden.K</c>
    /// for every layer they read (<see cref="EncoderGraph.WithHiddenStateOutputs"/>), and makes the heads' outputs the
    /// graph's only outputs.
    /// </summary>
    public static void Append(ModelProto model, IReadOnlyList<GraphHead> heads, int hiddenSize)
    {
        ArgumentOutOfRangeException.ThrowIfZero(heads.Count);
        var graph = model.Graph;
        var available = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var flats = new Dictionary<int, string>();
        graph.Output.Clear();
        foreach (var head in heads)
        {
            var spec = head.Spec;
            var width = Features.Width(hiddenSize, spec.Layers.Count);
            if (spec.WordShape && !head.PerToken)
            {
                throw new InvalidDataException($"Head {head.Task} reads word shapes, which only token heads have.");
            }

            var expected = width + (spec.WordShape ? WordShape.Size : 0);
            if (head.Head.InputDim != expected || head.Head.ClassCount != spec.Labels.Count)
            {
                throw new InvalidDataException($"Head {head.Task} is {head.Head.InputDim}→{head.Head.ClassCount}, expected {expected}→{spec.Labels.Count}.");
            }

            foreach (var layer in spec.Layers)
            {
                if (!available.Contains(EncoderGraph.OutputName(layer)))
                {
                    throw new ArgumentException($"The graph does not output {EncoderGraph.OutputName(layer)}, which head {head.Task} reads.", nameof(model));
                }
            }

            var p = $"{Prefix}{head.Task}_";
            // Each head has its own count of sequences or tokens per batch, so its own symbolic dimension.
            var count = head.PerToken ? $"{head.Task}_tokens" : $"{head.Task}_sequences";
            graph.Input.Add(Input(head.IndexInput, TensorProto.Types.DataType.Int64, count));
            var perLayer = new List<string>(spec.Layers.Count);
            if (head.PerToken)
            {
                // Gather each layer's rows before concatenating: only the tagged tokens are copied, never every position.
                foreach (var layer in spec.Layers)
                {
                    perLayer.Add(Add(graph, "Gather", $"{p}gather_{layer}", Flat(graph, layer, hiddenSize, flats), head.IndexInput));
                }

                if (spec.WordShape)
                {
                    graph.Input.Add(Input(head.ShapesInput, TensorProto.Types.DataType.Float, count, WordShape.Size));
                    perLayer.Add(head.ShapesInput);
                }
            }
            else
            {
                // [rows, slots, length] × [rows, length, hidden] per layer: a row's slots pool its own positions only.
                graph.Input.Add(Input(head.PoolInput, TensorProto.Types.DataType.Float, "rows", $"{head.Task}_slots", "length"));
                foreach (var layer in spec.Layers)
                {
                    var pooled = Add(graph, "MatMul", $"{p}pooled_{layer}", head.PoolInput, EncoderGraph.OutputName(layer));
                    perLayer.Add(Add(graph, "Reshape", $"{p}slots_{layer}", pooled, Shape(graph, hiddenSize)));
                }
            }

            var x = perLayer[0];
            if (perLayer.Count > 1)
            {
                x = Add(graph, "Concat", p + "features", [.. perLayer]);
                graph.Node[^1].Attribute.Add(IntAttribute("axis", 1));
            }

            if (!head.PerToken)
            {
                x = Add(graph, "Gather", p + "sequences", x, head.IndexInput);
            }

            var logits = AppendDense(graph, head.Head, p, x);
            if (head.PerToken)
            {
                logits = Add(graph, "Softmax", p + "softmax", logits);
                graph.Node[^1].Attribute.Add(IntAttribute("axis", 1));
            }

            graph.Node.Add(new NodeProto { OpType = "Identity", Name = p + "output", Input = { logits }, Output = { head.Output } });
            graph.Output.Add(Output(head.Output, count, spec.Labels.Count));
        }

        EncoderGraph.PruneUnused(graph);
    }

    /// <summary>[rows × length, hidden]: one layer's hidden states, one row per position (a reshape, no copy), shared by the heads.</summary>
    private static string Flat(GraphProto graph, int layer, int hiddenSize, Dictionary<int, string> built)
    {
        if (!built.TryGetValue(layer, out var flat))
        {
            flat = Add(graph, "Reshape", $"{Prefix}flat_{layer}", EncoderGraph.OutputName(layer), Shape(graph, hiddenSize));
            built[layer] = flat;
        }

        return flat;
    }

    /// <summary>The shape [-1, <paramref name="width"/>], added once.</summary>
    private static string Shape(GraphProto graph, int width)
    {
        var name = $"{Prefix}shape_{width}";
        if (graph.Initializer.All(i => i.Name != name))
        {
            graph.Initializer.Add(Int64Tensor(name, [-1, width]));
        }

        return name;
    }

    /// <summary>The dense part of <paramref name="head"/> on [n, inputs] → [n, classes] logits.</summary>
    private static string AppendDense(GraphProto graph, DenseHead head, string p, string x)
    {
        if (head.Standardizes)
        {
            graph.Initializer.Add(FloatTensor(p + "mean", head.FeatureMean, [head.InputDim]));
            graph.Initializer.Add(FloatTensor(p + "inv_std", head.InverseStd, [head.InputDim]));
            x = Add(graph, "Sub", p + "centred", x, p + "mean");
            x = Add(graph, "Mul", p + "standardized", x, p + "inv_std");
        }

        if (head.HiddenDim > 0)
        {
            graph.Initializer.Add(FloatTensor(p + "w1", Transpose(head.HiddenWeights, head.HiddenDim, head.InputDim), [head.InputDim, head.HiddenDim]));
            graph.Initializer.Add(FloatTensor(p + "b1", head.HiddenBias, [head.HiddenDim]));
            x = Add(graph, "MatMul", p + "hidden_product", x, p + "w1");
            x = Add(graph, "Add", p + "hidden", x, p + "b1");
            x = AppendActivation(graph, head.Activation, p, x);
        }

        var k = head.OutputInputDim;
        graph.Initializer.Add(FloatTensor(p + "w2", Transpose(head.OutputWeights, head.ClassCount, k), [k, head.ClassCount]));
        graph.Initializer.Add(FloatTensor(p + "b2", head.OutputBias, [head.ClassCount]));
        x = Add(graph, "MatMul", p + "output_product", x, p + "w2");
        return Add(graph, "Add", p + "logits", x, p + "b2");
    }

    private static string AppendActivation(GraphProto graph, HeadActivation activation, string p, string x)
    {
        switch (activation)
        {
            case HeadActivation.Relu:
                return Add(graph, "Relu", p + "relu", x);
            case HeadActivation.Gelu:
                // x·σ(2u) with 2u = x·(2√(2/π) + 2√(2/π)·0.044715·x²): the operations and float constants of Activations.Apply.
                graph.Initializer.Add(FloatTensor(p + "gelu_cubic", [Activations.Cubic], []));
                graph.Initializer.Add(FloatTensor(p + "gelu_linear", [Activations.TwoSqrtTwoOverPi], []));
                var squared = Add(graph, "Mul", p + "gelu_squared", x, x);
                var scaled = Add(graph, "Mul", p + "gelu_scaled", squared, p + "gelu_cubic");
                var slope = Add(graph, "Add", p + "gelu_slope", scaled, p + "gelu_linear");
                var twoU = Add(graph, "Mul", p + "gelu_two_u", slope, x);
                var gate = Add(graph, "Sigmoid", p + "gelu_gate", twoU);
                return Add(graph, "Mul", p + "gelu", x, gate);
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "No graph form for this activation.");
        }
    }

    /// <summary>[rows, cols] row-major → [cols, rows] row-major.</summary>
    private static float[] Transpose(ReadOnlySpan<float> values, int rows, int cols)
    {
        var result = new float[values.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                result[(c * rows) + r] = values[(r * cols) + c];
            }
        }

        return result;
    }

    /// <summary>Adds a node whose single output is named <paramref name="name"/>; returns that name.</summary>
    private static string Add(GraphProto graph, string op, string name, params string[] inputs)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        graph.Node.Add(node);
        return name;
    }

    private static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static TensorProto FloatTensor(string name, ReadOnlySpan<float> values, long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        return tensor;
    }

    private static TensorProto Int64Tensor(string name, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        return tensor;
    }

    private static ValueInfoProto Input(string name, TensorProto.Types.DataType type, string first, string second, string third) =>
        Value(name, type, Dimension(first), Dimension(second), Dimension(third));

    private static ValueInfoProto Input(string name, TensorProto.Types.DataType type, string first, int second) =>
        Value(name, type, Dimension(first), new TensorShapeProto.Types.Dimension { DimValue = second });

    private static ValueInfoProto Input(string name, TensorProto.Types.DataType type, string only) =>
        Value(name, type, Dimension(only));

    private static ValueInfoProto Output(string name, string first, int classes) =>
        Value(name, TensorProto.Types.DataType.Float, Dimension(first), new TensorShapeProto.Types.Dimension { DimValue = classes });

    private static TensorShapeProto.Types.Dimension Dimension(string name) => new() { DimParam = name };

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
