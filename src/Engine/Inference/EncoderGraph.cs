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

    public static byte[] ToBytes(ModelProto model) => model.ToByteArray();

    public static ModelProto Parse(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    private static string LayerNormBias(int index) => $"encoder.layer.{index}.output.LayerNorm.bias";

    /// <summary>Drops nodes and initializers that no graph output depends on.</summary>
    private static void PruneUnused(GraphProto graph)
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
