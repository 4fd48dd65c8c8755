using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using StreamBert.Engine.Inference;
using StreamBert.Training.Modeling;

namespace StreamBert.Training.Onnx;

/// <summary>A task head to write into the graph as output <c>logits.{Task}</c>, with its label set (logit order).</summary>
public sealed record ExportedHead(string Task, IBertHead Head, IReadOnlyList<string> Labels)
{
    public string OutputName => BertOnnxWriter.LogitsOutput(Task);
}

/// <summary>
/// Writes a <see cref="BertEncoder"/> (and optionally its heads) as an ONNX graph, since TorchSharp has no ONNX export.
/// </summary>
/// <remarks>
/// <para>
/// Opset 17, standard ops only (Gather, Add, LayerNormalization, MatMul, Reshape, Transpose, Softmax, Div, Mul,
/// Erf, Cast, Unsqueeze, Sub, Range, Concat, ReduceSum). Inputs are those of the Hugging Face export
/// (<c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c>, int64 [batch, sequence]) plus <c>word_shapes</c>
/// (float [batch, sequence, 5]) when a token head reads word shapes. Outputs: <c>last_hidden_state</c> and one
/// <c>logits.{task}</c> per head, the latter only for checking parity end to end (the serving path computes logits
/// with the <c>.head</c> file and prunes these nodes).
/// </para>
/// <para>
/// Initializer names follow the Hugging Face export, which is what <see cref="EncoderGraph"/> relies on to find
/// layers: embeddings, biases and LayerNorm parameters keep their PyTorch names and the LayerNorm ones feed
/// <c>LayerNormalization</c> nodes directly. Linear weights are stored transposed to <c>[in, out]</c> for MatMul,
/// as the export does, under the PyTorch name plus <c>.T</c>, each MatMul followed by the Add of its
/// <c>….bias</c> — so <see cref="OnnxWeights.Read"/> reads a written graph back exactly like the pretrained one.
/// </para>
/// </remarks>
public static class BertOnnxWriter
{
    public const int Opset = 17;
    public const string LastHiddenState = "last_hidden_state";
    public const string WordShapesInput = "word_shapes";

    /// <summary>Initializers of the heads are named <c>heads.{task}.…</c>; everything else is the encoder's.</summary>
    public const string HeadPrefix = "heads.";

    public static string LogitsOutput(string task) => $"logits.{task}";

    /// <summary>Builds the graph from the encoder's current weights (copied to the CPU).</summary>
    public static ModelProto Build(BertEncoder encoder, IReadOnlyList<ExportedHead>? heads = null)
    {
        heads ??= [];
        var config = encoder.Config;
        var weights = encoder.ExportWeights().ToDictionary(w => w.Name, StringComparer.Ordinal);
        var g = new GraphBuilder();
        var graph = g.Graph;
        graph.Name = "streambert_bert";
        graph.Input.Add(Value("input_ids", TensorProto.Types.DataType.Int64, "batch", "sequence"));
        graph.Input.Add(Value("attention_mask", TensorProto.Types.DataType.Int64, "batch", "sequence"));
        graph.Input.Add(Value("token_type_ids", TensorProto.Types.DataType.Int64, "batch", "sequence"));

        // Embeddings: words + token types, then positions 0..sequence-1 (the export's summation order).
        var sequenceLength = g.Node("Gather", [g.Node("Shape", ["input_ids"]), g.Int64Scalar("one_index", 1)], attributes: [IntAttribute("axis", 0)]);
        var positions = g.Node("Range", [g.Int64Scalar("zero", 0), sequenceLength, g.Int64Scalar("one", 1)]);
        var embedded = g.Node("Add", [
            g.Node("Add", [
                g.Node("Gather", [g.Weight(weights, "embeddings.word_embeddings.weight"), "input_ids"]),
                g.Node("Gather", [g.Weight(weights, "embeddings.token_type_embeddings.weight"), "token_type_ids"])]),
            g.Node("Gather", [g.Weight(weights, "embeddings.position_embeddings.weight"), positions])]);
        var hidden = new List<string> { g.LayerNorm(weights, "embeddings.LayerNorm", embedded, config.LayerNormEps) };

        // Additive attention mask [batch, 1, 1, sequence]: 0 where attended, the most negative float where padded.
        var mask4 = g.Node("Cast", [g.Node("Unsqueeze", ["attention_mask", g.Int64s("mask_axes", [1, 2])])],
            attributes: [IntAttribute("to", (long)TensorProto.Types.DataType.Float)]);
        var maskBias = g.Node("Mul", [g.Node("Sub", [g.FloatScalar("one_float", 1f), mask4]), g.FloatScalar("mask_min", float.MinValue)]);

        var headShape = g.Int64s("head_shape", [0, 0, config.Heads, config.HeadSize]);
        var mergedShape = g.Int64s("merged_shape", [0, 0, config.Hidden]);
        var scale = g.FloatScalar("attention_scale", MathF.Sqrt(config.HeadSize));
        var sqrt2 = g.FloatScalar("sqrt2", MathF.Sqrt(2f));
        var half = g.FloatScalar("half", 0.5f);
        var one = g.FloatScalar("one_gelu", 1f);
        for (var layer = 0; layer < config.Layers; layer++)
        {
            var p = $"encoder.layer.{layer}.";
            var x = hidden[^1];
            string Split(string linear, long[] perm) =>
                g.Node("Transpose", [g.Node("Reshape", [g.Linear(weights, p + linear, x), headShape])], attributes: [IntsAttribute("perm", perm)]);

            var query = Split("attention.self.query", [0, 2, 1, 3]);
            var keyT = Split("attention.self.key", [0, 2, 3, 1]);
            var value = Split("attention.self.value", [0, 2, 1, 3]);
            var scores = g.Node("Add", [g.Node("Div", [g.Node("MatMul", [query, keyT]), scale]), maskBias]);
            var probabilities = g.Node("Softmax", [scores], attributes: [IntAttribute("axis", -1)]);
            var context = g.Node("Reshape", [
                g.Node("Transpose", [g.Node("MatMul", [probabilities, value])], attributes: [IntsAttribute("perm", [0, 2, 1, 3])]),
                mergedShape]);
            var attended = g.LayerNorm(weights, p + "attention.output.LayerNorm",
                g.Node("Add", [g.Linear(weights, p + "attention.output.dense", context), x]), config.LayerNormEps);

            // Exact GELU, as BERT and TorchSharp compute it: x · ½ · (1 + erf(x / √2)).
            var up = g.Linear(weights, p + "intermediate.dense", attended);
            var gelu = g.Node("Mul", [g.Node("Mul", [up, g.Node("Add", [g.Node("Erf", [g.Node("Div", [up, sqrt2])]), one])]), half]);
            var output = g.LayerNorm(weights, p + "output.LayerNorm",
                g.Node("Add", [g.Linear(weights, p + "output.dense", gelu), attended]), config.LayerNormEps,
                layer == config.Layers - 1 ? LastHiddenState : null);
            hidden.Add(output);
        }

        if (weights.Count > 0)
        {
            throw new InvalidOperationException($"The writer does not know these encoder parameters: {string.Join(", ", weights.Keys)}.");
        }

        graph.Output.Add(Value(LastHiddenState, TensorProto.Types.DataType.Float, "batch", "sequence", "hidden"));
        foreach (var head in heads)
        {
            WriteHead(g, head, hidden);
        }

        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "StreamBert.Training",
            ProducerVersion = typeof(BertOnnxWriter).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    /// <summary>Writes the graph built by <see cref="Build"/> to a file (temp file + rename).</summary>
    public static void Save(ModelProto model, string path)
    {
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        using (var stream = File.Create(temp))
        {
            model.WriteTo(stream);
        }

        File.Move(temp, path, overwrite: true);
    }

    private static void WriteHead(GraphBuilder g, ExportedHead exported, List<string> hidden)
    {
        var head = exported.Head;
        var prefix = $"{HeadPrefix}{exported.Task}.";
        var weights = BertEncoder.ParameterArrays((TorchSharp.torch.nn.Module)head)
            .ToDictionary(w => prefix + w.Name, w => w with { Name = prefix + w.Name }, StringComparer.Ordinal);
        foreach (var layer in head.Layers)
        {
            if (layer < 0 || layer >= hidden.Count)
            {
                throw new ArgumentException($"Head {exported.Task} reads layer {layer}; the encoder has 0..{hidden.Count - 1}.");
            }
        }

        var features = head.Layers.Count == 1
            ? hidden[head.Layers[0]]
            : g.Node("Concat", head.Layers.Select(l => hidden[l]).ToArray(), attributes: [IntAttribute("axis", -1)]);
        string input;
        string[] shape;
        switch (head)
        {
            case SequenceClassificationHead sequence when sequence.Pooling == "cls":
                input = g.Node("Gather", [features, g.Int64Scalar(prefix + "cls_index", 0)], attributes: [IntAttribute("axis", 1)]);
                shape = ["batch", "classes"];
                break;
            case SequenceClassificationHead:
                // Mean over real tokens: Σ(h·mask) / Σ mask, as the serving path's Features.MeanPool.
                var mask = g.Node("Cast", [g.Node("Unsqueeze", ["attention_mask", g.Int64s(prefix + "mask_axis", [-1])])],
                    attributes: [IntAttribute("to", (long)TensorProto.Types.DataType.Float)]);
                var axis = g.Int64s(prefix + "sequence_axis", [1]);
                input = g.Node("Div", [
                    g.Node("ReduceSum", [g.Node("Mul", [features, mask]), axis], attributes: [IntAttribute("keepdims", 0)]),
                    g.Node("ReduceSum", [mask, axis], attributes: [IntAttribute("keepdims", 0)])]);
                shape = ["batch", "classes"];
                break;
            case TokenClassificationHead token:
                input = features;
                if (token.WordShape)
                {
                    if (!g.Graph.Input.Any(i => i.Name == WordShapesInput))
                    {
                        g.Graph.Input.Add(Value(WordShapesInput, TensorProto.Types.DataType.Float, "batch", "sequence", "shape"));
                    }

                    input = g.Node("Concat", [features, WordShapesInput], attributes: [IntAttribute("axis", -1)]);
                }

                shape = ["batch", "sequence", "classes"];
                break;
            default:
                throw new ArgumentException($"Cannot write a head of type {head.GetType().Name}.");
        }

        var logits = g.Linear(weights, prefix + "classifier", input, exported.OutputName);
        if (weights.Count > 0)
        {
            throw new InvalidOperationException($"The writer does not know these head parameters: {string.Join(", ", weights.Keys)}.");
        }

        g.Graph.Output.Add(Value(logits, TensorProto.Types.DataType.Float, shape));
    }

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, params string[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = dim });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto IntsAttribute(string name, long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private static AttributeProto FloatAttribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    internal static TensorProto FloatTensor(string name, long[] shape, ReadOnlySpan<float> data)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data)) };
        tensor.Dims.AddRange(shape);
        return tensor;
    }

    /// <summary>Names node outputs uniquely and consumes each encoder weight once, so leftovers show up as unknown.</summary>
    private sealed class GraphBuilder
    {
        private readonly HashSet<string> _initializers = new(StringComparer.Ordinal);
        private int _counter;

        public GraphProto Graph { get; } = new();

        public string Node(string op, string[] inputs, string? output = null, AttributeProto[]? attributes = null)
        {
            var name = output ?? $"{op.ToLowerInvariant()}_{_counter}";
            var node = new NodeProto { OpType = op, Name = $"{op}_{_counter++}" };
            node.Input.AddRange(inputs);
            node.Output.Add(name);
            if (attributes is not null)
            {
                node.Attribute.AddRange(attributes);
            }

            Graph.Node.Add(node);
            return name;
        }

        /// <summary>Adds a parameter under its own name and removes it from the pending set.</summary>
        public string Weight(Dictionary<string, NamedTensor> weights, string name)
        {
            if (!weights.Remove(name, out var tensor))
            {
                throw new InvalidOperationException($"The model has no parameter {name}.");
            }

            AddInitializer(FloatTensor(name, tensor.Shape, tensor.Data));
            return name;
        }

        /// <summary>x·Wᵀ + b with W stored transposed ([in, out]) as <c>{prefix}.weight.T</c>.</summary>
        public string Linear(Dictionary<string, NamedTensor> weights, string prefix, string input, string? output = null)
        {
            if (!weights.Remove(prefix + ".weight", out var weight))
            {
                throw new InvalidOperationException($"The model has no parameter {prefix}.weight.");
            }

            var rows = checked((int)weight.Shape[0]);
            var cols = checked((int)weight.Shape[1]);
            var transposed = new float[weight.Data.Length];
            for (var r = 0; r < rows; r++)
            {
                for (var c = 0; c < cols; c++)
                {
                    transposed[(c * rows) + r] = weight.Data[(r * cols) + c];
                }
            }

            var name = prefix + ".weight.T";
            AddInitializer(FloatTensor(name, [cols, rows], transposed));
            return Node("Add", [Node("MatMul", [input, name]), Weight(weights, prefix + ".bias")], output);
        }

        public string LayerNorm(Dictionary<string, NamedTensor> weights, string prefix, string input, double eps, string? output = null) =>
            Node("LayerNormalization", [input, Weight(weights, prefix + ".weight"), Weight(weights, prefix + ".bias")], output,
                [IntAttribute("axis", -1), FloatAttribute("epsilon", (float)eps)]);

        private void AddInitializer(TensorProto tensor)
        {
            if (!_initializers.Add(tensor.Name))
            {
                throw new InvalidOperationException($"Initializer {tensor.Name} written twice.");
            }

            Graph.Initializer.Add(tensor);
        }

        public string FloatScalar(string name, float value)
        {
            AddInitializer(FloatTensor(name, [], [value]));
            return name;
        }

        public string Int64Scalar(string name, long value) => Int64s(name, [value], scalar: true);

        public string Int64s(string name, long[] values, bool scalar = false)
        {
            var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
            tensor.Int64Data.AddRange(values);
            if (!scalar)
            {
                tensor.Dims.Add(values.Length);
            }

            AddInitializer(tensor);
            return name;
        }
    }
}
