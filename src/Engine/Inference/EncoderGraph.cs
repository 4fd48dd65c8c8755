using Google.Protobuf;
using Onnx;

namespace StreamBert.Engine.Inference;

/// <summary>
/// Rewrites a BERT encoder exported from Hugging Face so that it outputs the hidden states the
/// task heads read (<c>hidden.K</c>, K = 0 for the embeddings, 1..N for the layers) and nothing else.
/// Frozen-feature heads are best on a concatenation of the last layers (BERT paper, feature-based NER),
/// which the stock export hides; nodes no output needs (the pooler) are pruned.
/// </summary>
public static class EncoderGraph
{
    public static string OutputName(int layer) => $"hidden.{layer}";

    /// <summary>Number of transformer layers in the graph (from its LayerNorm parameters).</summary>
    public static int CountLayers(ModelProto model)
    {
        var count = 0;
        while (model.Graph.Initializer.Any(i => i.Name == LayerNormBias(count)))
        {
            count++;
        }

        return count;
    }

    /// <summary>Returns a copy of <paramref name="original"/> whose outputs are exactly <c>hidden.K</c> for each K in <paramref name="layers"/>.</summary>
    public static ModelProto WithHiddenStateOutputs(ModelProto original, IReadOnlyCollection<int> layers)
    {
        ArgumentOutOfRangeException.ThrowIfZero(layers.Count);
        var model = original.Clone();
        var graph = model.Graph;
        var layerCount = CountLayers(model);
        var tensorOfLayer = new Dictionary<int, string>();
        foreach (var layer in layers.Distinct())
        {
            if (layer < 0 || layer > layerCount)
            {
                throw new ArgumentOutOfRangeException(nameof(layers), layer, $"The encoder has layers 0..{layerCount}.");
            }

            var bias = layer == 0 ? "embeddings.LayerNorm.bias" : LayerNormBias(layer - 1);
            // The export decomposes LayerNorm; its last node adds the bias, so that node's output is the layer's output.
            var node = graph.Node.SingleOrDefault(n => n.OpType == "Add" && n.Input.Contains(bias))
                ?? graph.Node.SingleOrDefault(n => n.OpType == "LayerNormalization" && n.Input.Contains(bias))
                ?? throw new InvalidDataException($"No node in the encoder graph applies {bias}.");
            tensorOfLayer[layer] = node.Output[0];
        }

        graph.Output.Clear();
        foreach (var (layer, tensor) in tensorOfLayer.OrderBy(kv => kv.Key))
        {
            var name = OutputName(layer);
            graph.Node.Add(new NodeProto { OpType = "Identity", Name = $"StreamBert_{name}", Input = { tensor }, Output = { name } });
            graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto
                {
                    TensorType = new TypeProto.Types.Tensor
                    {
                        ElemType = (int)TensorProto.Types.DataType.Float,
                        Shape = new TensorShapeProto
                        {
                            Dim =
                            {
                                new TensorShapeProto.Types.Dimension { DimParam = "batch" },
                                new TensorShapeProto.Types.Dimension { DimParam = "sequence" },
                                new TensorShapeProto.Types.Dimension { DimParam = "hidden" },
                            },
                        },
                    },
                },
            });
        }

        PruneUnused(graph);
        return model;
    }

    /// <summary>Name of the input that carries each token's position within its own sequence after <see cref="TryEnablePacking"/>.</summary>
    public const string PositionIdsInput = "position_ids";

    /// <summary>
    /// Rewrites <paramref name="model"/> (in place) so that several sequences can share one row: <c>attention_mask</c>
    /// then carries a segment number per token (1, 2, … for the sequences of a row; 0 for padding) and a token attends
    /// only to tokens of its own segment (a block-diagonal mask, [batch, 1, sequence, sequence], in place of the
    /// export's [batch, 1, 1, sequence] padding mask), and a new input <see cref="PositionIdsInput"/> gives each token
    /// its position within its segment. A row with one segment numbered 1 is exactly the old call (real tokens see the
    /// same keys, positions 0…n-1), so the rewritten graph serves unpacked batches unchanged. False — and the model
    /// untouched — when the graph does not have the two patterns this needs: the padding mask built from
    /// <c>attention_mask</c> by Unsqueeze… → Cast → Sub (both the Hugging Face export and our writer build it so),
    /// and one Gather of <c>embeddings.position_embeddings.weight</c>.
    /// </summary>
    public static bool TryEnablePacking(ModelProto model)
    {
        var graph = model.Graph;
        if (graph.Input.All(i => i.Name != "attention_mask") || graph.Input.Any(i => i.Name == PositionIdsInput))
        {
            return false;
        }

        var positionGather = graph.Node.Where(n => n.OpType == "Gather" && n.Input.Count == 2 && n.Input[0] == "embeddings.position_embeddings.weight").ToList();
        if (positionGather.Count != 1)
        {
            return false;
        }

        // Follow attention_mask through Unsqueezes (at most three) to the float Cast whose only consumer is the Sub that
        // turns it into an additive bias; that Cast's output ([batch, 1, 1, sequence]) is what the block-diagonal mask replaces.
        var cast = FindMaskCast(graph, "attention_mask", depth: 0);
        if (cast is null)
        {
            return false;
        }

        var subs = Consumers(graph, cast.Output[0]).ToList();

        // Opset 13 and later take Unsqueeze axes as an input; older graphs are not rewritten.
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        if (opset < 13)
        {
            return false;
        }

        const string P = "StreamBert_packing_";
        graph.Initializer.Add(Int64Tensor(P + "axis1", [1]));
        graph.Initializer.Add(Int64Tensor(P + "axis2", [2]));
        graph.Initializer.Add(Int64Tensor(P + "zero", []));
        graph.Node.Add(Node("Unsqueeze", P + "query", ["attention_mask", P + "axis2"]));
        graph.Node.Add(Node("Unsqueeze", P + "key", ["attention_mask", P + "axis1"]));
        graph.Node.Add(Node("Equal", P + "same", [P + "query", P + "key"]));
        graph.Node.Add(Node("Greater", P + "real", [P + "key", P + "zero"]));
        graph.Node.Add(Node("And", P + "allowed", [P + "same", P + "real"]));
        var toFloat = Node("Cast", P + "allowed_float", [P + "allowed"]);
        toFloat.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
        graph.Node.Add(toFloat);
        graph.Node.Add(Node("Unsqueeze", P + "mask", [P + "allowed_float", P + "axis1"]));
        subs[0].Input[1] = P + "mask";

        positionGather[0].Input[1] = PositionIdsInput;
        var maskInput = graph.Input.First(i => i.Name == "attention_mask");
        var positions = maskInput.Clone();
        positions.Name = PositionIdsInput;
        graph.Input.Add(positions);
        // Shapes recorded by the exporter along the old mask path ([batch, 1, 1, sequence]) no longer hold.
        graph.ValueInfo.Clear();
        PruneUnused(graph);
        return true;
    }

    private static NodeProto? FindMaskCast(GraphProto graph, string tensor, int depth)
    {
        foreach (var node in Consumers(graph, tensor).ToList())
        {
            if (node.Input[0] != tensor)
            {
                continue;
            }

            if (node.OpType == "Cast"
                && node.Attribute.FirstOrDefault(a => a.Name == "to") is { I: (long)TensorProto.Types.DataType.Float }
                && Consumers(graph, node.Output[0]).ToList() is [{ OpType: "Sub" } sub]
                && sub.Input.Count == 2 && sub.Input[1] == node.Output[0])
            {
                return node;
            }

            if (node.OpType == "Unsqueeze" && depth < 3 && FindMaskCast(graph, node.Output[0], depth + 1) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static IEnumerable<NodeProto> Consumers(GraphProto graph, string tensor) => graph.Node.Where(n => n.Input.Contains(tensor));

    /// <summary>A node whose single output is named <paramref name="name"/> (the generated nodes' outputs are their names).</summary>
    private static NodeProto Node(string op, string name, string[] inputs)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        return node;
    }

    private static TensorProto Int64Tensor(string name, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        if (values.Length > 0)
        {
            tensor.Dims.Add(values.Length);
        }

        tensor.Int64Data.AddRange(values.Length > 0 ? values : [0]);
        return tensor;
    }

    public static byte[] ToBytes(ModelProto model) => model.ToByteArray();

    public static ModelProto Parse(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    private static string LayerNormBias(int index) => $"encoder.layer.{index}.output.LayerNorm.bias";

    /// <summary>Drops nodes and initializers that no graph output depends on.</summary>
    internal static void PruneUnused(GraphProto graph)
    {
        var producer = new Dictionary<string, NodeProto>();
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                producer[output] = node;
            }
        }

        var needed = new HashSet<string>();
        var keep = new HashSet<NodeProto>();
        var stack = new Stack<string>(graph.Output.Select(o => o.Name));
        while (stack.Count > 0)
        {
            var tensor = stack.Pop();
            if (!needed.Add(tensor) || !producer.TryGetValue(tensor, out var node) || !keep.Add(node))
            {
                continue;
            }

            foreach (var input in node.Input)
            {
                stack.Push(input);
            }
        }

        var nodes = graph.Node.Where(keep.Contains).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        var initializers = graph.Initializer.Where(i => needed.Contains(i.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(initializers);
    }
}
