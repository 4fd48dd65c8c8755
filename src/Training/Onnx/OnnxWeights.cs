using System.Runtime.InteropServices;
using Onnx;

namespace StreamBert.Training.Onnx;

/// <summary>A float tensor by name, row-major, in PyTorch's layout (Linear weights <c>[out, in]</c>).</summary>
public sealed record NamedTensor(string Name, long[] Shape, float[] Data);

/// <summary>
/// Reads the weights of a BERT encoder exported from Hugging Face to ONNX under their PyTorch names.
/// </summary>
/// <remarks>
/// The export keeps names for embeddings, biases and LayerNorms but stores the 36 Linear weights as anonymous
/// initializers, transposed to <c>[in, out]</c>. The graph itself says which is which: each weight feeds a
/// <c>MatMul(x, W)</c> whose output goes into an <c>Add</c> with a <c>….bias</c> initializer; the weight is that name
/// with <c>weight</c>, transposed back. Names are checked against the model by the caller, so a graph that does not
/// follow this pattern fails loudly rather than loading half its weights.
/// </remarks>
public static class OnnxWeights
{
    /// <summary>Initializers of the export that are not weights of an encoder (an index buffer and the unused pooler).</summary>
    public static readonly IReadOnlyList<string> NotEncoderWeights =
        ["embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"];

    /// <summary>All named float weights plus the traced MatMul weights, keyed by PyTorch name.</summary>
    public static Dictionary<string, NamedTensor> Read(ModelProto model)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }

        var result = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        var traced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var matMul in graph.Node.Where(n => n.OpType == "MatMul" && n.Input.Count == 2 && initializers.ContainsKey(n.Input[1])))
        {
            var weight = initializers[matMul.Input[1]];
            var add = consumers.GetValueOrDefault(matMul.Output[0])?.SingleOrDefault(n => n.OpType == "Add")
                ?? throw new InvalidDataException($"MatMul {matMul.Name} (weight {weight.Name}) is not followed by a bias Add.");
            var bias = add.Input.SingleOrDefault(i => i.EndsWith(".bias", StringComparison.Ordinal))
                ?? throw new InvalidDataException($"The Add after MatMul {matMul.Name} has no ….bias input.");
            var name = bias[..^"bias".Length] + "weight";
            if (weight.Dims.Count != 2)
            {
                throw new InvalidDataException($"{name} (initializer {weight.Name}) has {weight.Dims.Count} dimensions, expected 2.");
            }

            if (!result.TryAdd(name, Transpose(name, weight)))
            {
                throw new InvalidDataException($"Two MatMuls map to {name}.");
            }

            traced.Add(weight.Name);
        }

        // Everything else with a dotted name is a weight under its own name; undotted ones are graph constants.
        foreach (var init in graph.Initializer)
        {
            if (init.DataType == (int)TensorProto.Types.DataType.Float && init.Name.Contains('.', StringComparison.Ordinal)
                && !traced.Contains(init.Name) && !result.TryAdd(init.Name, new NamedTensor(init.Name, [.. init.Dims], Floats(init))))
            {
                throw new InvalidDataException($"{init.Name} is both an initializer and a traced MatMul weight.");
            }
        }

        return result;
    }

    /// <summary>
    /// Number of attention heads: the export reshapes Q, K and V with a shape built from two constant
    /// int64 initializers, [heads] and [head size]. Null when the graph does not show it.
    /// </summary>
    public static int? AttentionHeads(ModelProto model)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var producer = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n, StringComparer.Ordinal);
        var keyAdd = graph.Node.FirstOrDefault(n => n.OpType == "Add" && n.Input.Contains("encoder.layer.0.attention.self.key.bias"));
        var reshape = keyAdd is null ? null : graph.Node.FirstOrDefault(n => n.OpType == "Reshape" && n.Input[0] == keyAdd.Output[0]);

        // A graph written by BertOnnxWriter reshapes by a constant [0, 0, heads, head size].
        if (reshape is not null && initializers.TryGetValue(reshape.Input[1], out var constant)
            && constant.DataType == (int)TensorProto.Types.DataType.Int64 && Int64s(constant) is { Length: 4 } shape)
        {
            return checked((int)shape[2]);
        }

        // The Hugging Face export computes it: Concat(batch, sequence, heads, head size).
        if (reshape is null || !producer.TryGetValue(reshape.Input[1], out var concat) || concat.OpType != "Concat" || concat.Input.Count != 4)
        {
            return null;
        }

        return initializers.TryGetValue(concat.Input[2], out var heads) && heads.DataType == (int)TensorProto.Types.DataType.Int64
            ? checked((int)Int64s(heads)[0])
            : null;
    }

    internal static float[] Floats(TensorProto tensor)
    {
        if (tensor.RawData.Length > 0)
        {
            return MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
        }

        return [.. tensor.FloatData];
    }

    private static long[] Int64s(TensorProto tensor) =>
        tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray() : [.. tensor.Int64Data];

    private static NamedTensor Transpose(string name, TensorProto weight)
    {
        var rows = checked((int)weight.Dims[0]);
        var cols = checked((int)weight.Dims[1]);
        var source = Floats(weight);
        var target = new float[source.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                target[(c * rows) + r] = source[(r * cols) + c];
            }
        }

        return new NamedTensor(name, [cols, rows], target);
    }
}
