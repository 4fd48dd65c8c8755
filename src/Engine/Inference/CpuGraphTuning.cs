using Onnx;

namespace StreamBert.Engine.Inference;

/// <summary>What <see cref="CpuGraphTuning.Apply"/> rewrote in one graph.</summary>
/// <param name="ResidualAdds">Residual Adds before a layer norm turned into two-input Sums.</param>
/// <param name="QuantizedBiases">Bias Adds moved into the bias input of a <c>DynamicQuantizeMatMul</c>.</param>
/// <param name="Attentions">Attention blocks (per-head products, mask, softmax, head transposes) replaced by one <c>MultiHeadAttention</c>.</param>
public sealed record CpuGraphTuningResult(int ResidualAdds, int QuantizedBiases, int Attentions = 0);

/// <summary>
/// Rewrites an encoder graph so that ONNX Runtime's CPU provider picks its faster kernels; each rewrite leaves the
/// function the same. Measured on the encoder's own shapes (2,048 tokens × 384, ONNX Runtime 1.31, AMD EPYC, 2 cores;
/// README, "The ceiling"):
/// <list type="bullet">
/// <item>ORT fuses a residual <c>Add</c> and the <c>LayerNormalization</c> after it (and a bias <c>Add</c> before it)
/// into <c>SkipLayerNormalization</c>, whose CPU kernel took 2.4 ms where the unfused Add + LayerNormalization took
/// 0.36 ms — 19 % of the int8 encoder's kernel time went there. <c>SkipLayerNormFusion</c> matches <c>Add</c> nodes
/// only, and a session cannot switch one fusion off from .NET, so the residual becomes <c>Sum</c> (the same sum of two
/// tensors): the layer norm then stays <c>LayerNormalization</c>, or is fused from the exporter's ReduceMean… pattern
/// into one, as before.</item>
/// <item>A quantised MatMul's bias <c>Add</c> is a pass of its own over the output, and in front of GELU it also makes
/// ORT pick <c>BiasGelu</c>, measured twice as slow as <c>Gelu</c> on this CPU; <c>DynamicQuantizeMatMul</c> takes
/// the bias as its fifth input and adds it as it writes the product.</item>
/// </list>
/// Not for CUDA, whose fused kernels are the fast ones: <see cref="EncoderSession"/> applies this on the CPU provider
/// only (<see cref="SessionSettings.CpuGraphTuning"/>).
/// </summary>
public static class CpuGraphTuning
{
    public static CpuGraphTuningResult Apply(ModelProto model, bool fuseAttention = false)
    {
        var graph = model.Graph;
        var constants = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(n => n.OpType == "Constant"))
        {
            constants.TryAdd(node.Output[0], new TensorProto());
        }

        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input.Distinct())
            {
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }

        IReadOnlyList<NodeProto> ConsumersOf(string tensor) => consumers.TryGetValue(tensor, out var list) ? list : [];

        var residuals = 0;
        foreach (var add in graph.Node.Where(n => n.OpType == "Add" && n.Input.Count == 2 && n.Input.All(i => !constants.ContainsKey(i))))
        {
            if (FeedsLayerNorm(add.Output[0], ConsumersOf(add.Output[0])))
            {
                add.OpType = "Sum";
                residuals++;
            }
        }

        var biases = 0;
        foreach (var matMul in graph.Node.Where(n => n.OpType == "DynamicQuantizeMatMul" && n.Input.Count == 4).ToList())
        {
            var output = matMul.Output[0];
            if (graphOutputs.Contains(output) || ConsumersOf(output) is not [{ OpType: "Add", Input.Count: 2 } add]
                || !constants.TryGetValue(matMul.Input[1], out var weight) || weight.Dims.Count != 2)
            {
                continue;
            }

            var biasName = add.Input[0] == output ? add.Input[1] : add.Input[0];
            if (!constants.TryGetValue(biasName, out var bias) || bias.DataType != (int)TensorProto.Types.DataType.Float
                || bias.Dims.Count != 1 || bias.Dims[0] != weight.Dims[1])
            {
                continue;
            }

            matMul.Input.Add(biasName);
            matMul.Output[0] = add.Output[0];
            graph.Node.Remove(add);
            biases++;
        }

        var attentions = fuseAttention ? FuseAttention(model) : 0;
        return new CpuGraphTuningResult(residuals, biases, attentions);
    }

    /// <summary>
    /// Replaces each self-attention block of the export's form — Reshape/Transpose of Q, K and V into heads, MatMul,
    /// Div by √d, Add of the additive mask, Softmax, MatMul, Transpose/Reshape back — by one <c>MultiHeadAttention</c>
    /// on the projected Q, K, V (their bias Adds folded into its bias input where they are constants) with the same mask
    /// as its <c>attention_bias</c>. Only for a 4-D mask [batch, 1, L, L] (the packing rewrite's block-diagonal one).
    /// </summary>
    private static int FuseAttention(ModelProto model)
    {
        // On a copy: kept only if every replaced block is gone after pruning (a block still feeding some other output
        // would otherwise run twice).
        var graph = model.Graph.Clone();
        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                producer[output] = node;
            }
        }

        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        NodeProto? Producer(string tensor, string op) => producer.TryGetValue(tensor, out var node) && node.OpType == op ? node : null;
        IEnumerable<NodeProto> Consumers(string tensor) => graph.Node.Where(n => n.Input.Contains(tensor));

        // The tensor before the Reshape → Transpose(perm) that splits it into heads.
        string? Heads(string tensor, long[] perm) =>
            Producer(tensor, "Transpose") is { } transpose && Perm(transpose).SequenceEqual(perm)
            && Producer(transpose.Input[0], "Reshape") is { } reshape ? reshape.Input[0] : null;

        var fused = new HashSet<string>(StringComparer.Ordinal);
        foreach (var softmax in graph.Node.Where(n => n.OpType == "Softmax").ToList())
        {
            if (Producer(softmax.Input[0], "Add") is not { } maskAdd)
            {
                continue;
            }

            var scoresFirst = producer.TryGetValue(maskAdd.Input[0], out var first) && first.OpType is "Div" or "Mul";
            var scaled = producer.GetValueOrDefault(maskAdd.Input[scoresFirst ? 0 : 1]);
            var mask = maskAdd.Input[scoresFirst ? 1 : 0];
            if (scaled is not { OpType: "Div" or "Mul" } || ScalarValue(graph, initializers, producer, scaled.Input[1]) is not { } factor
                || Producer(scaled.Input[0], "MatMul") is not { } scores
                || Heads(scores.Input[0], [0, 2, 1, 3]) is not { } query || Heads(scores.Input[1], [0, 2, 3, 1]) is not { } key
                || Consumers(softmax.Output[0]).ToList() is not [{ OpType: "MatMul" } weighted] || weighted.Input[0] != softmax.Output[0]
                || Heads(weighted.Input[1], [0, 2, 1, 3]) is not { } value
                || Consumers(weighted.Output[0]).ToList() is not [{ OpType: "Transpose" } back] || !Perm(back).SequenceEqual([0L, 2, 1, 3])
                || Consumers(back.Output[0]).Where(n => n.OpType != "Shape").ToList() is not [{ OpType: "Reshape" } merged])
            {
                continue;
            }

            var scale = scaled.OpType == "Div" ? 1.0 / factor : factor;
            var headSize = (int)Math.Round(1.0 / (scale * scale));
            var hidden = Width(graph, initializers, producer, query);
            if (headSize <= 0 || hidden is not { } width || width % headSize != 0)
            {
                continue;
            }

            // Constant bias Adds on Q, K and V move into the operator's bias input ([3 × hidden]: Q, K, V).
            var biasName = "";
            var projections = new[] { query, key, value };
            var biases = projections.Select(p => ConstantBias(producer, initializers, p, width)).ToList();
            if (biases.All(b => b is not null))
            {
                var packed = new TensorProto { Name = merged.Output[0] + ".qkv_bias", DataType = (int)TensorProto.Types.DataType.Float };
                packed.Dims.Add(3L * width);
                foreach (var (_, tensor) in biases.Select(b => b!.Value))
                {
                    packed.FloatData.AddRange(Floats(tensor));
                }

                graph.Initializer.Add(packed);
                biasName = packed.Name;
                projections = [.. biases.Select(b => b!.Value.Input)];
            }

            var attention = new NodeProto { OpType = "MultiHeadAttention", Domain = MicrosoftDomain, Name = merged.Output[0] + ".mha" };
            attention.Input.AddRange([projections[0], projections[1], projections[2], biasName, "", mask]);
            attention.Output.Add(merged.Output[0]);
            attention.Attribute.Add(new AttributeProto { Name = "num_heads", Type = AttributeProto.Types.AttributeType.Int, I = width / headSize });
            attention.Attribute.Add(new AttributeProto { Name = "scale", Type = AttributeProto.Types.AttributeType.Float, F = (float)scale });
            graph.Node[graph.Node.IndexOf(merged)] = attention;
            producer[merged.Output[0]] = attention;
            fused.Add(softmax.Output[0]);
        }

        if (fused.Count == 0)
        {
            return 0;
        }

        EncoderGraph.PruneUnused(graph);
        if (graph.Node.Any(n => n.Output.Any(fused.Contains)))
        {
            return 0;
        }

        model.Graph = graph;
        if (!model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }

        return fused.Count;
    }

    private const string MicrosoftDomain = "com.microsoft";

    private static IEnumerable<long> Perm(NodeProto transpose) => transpose.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints ?? [];

    /// <summary>A scalar float constant (initializer or Constant node), or null.</summary>
    private static double? ScalarValue(GraphProto graph, Dictionary<string, TensorProto> initializers, Dictionary<string, NodeProto> producer, string tensor)
    {
        var value = initializers.GetValueOrDefault(tensor)
            ?? (producer.TryGetValue(tensor, out var node) && node.OpType == "Constant" ? node.Attribute.FirstOrDefault(a => a.Name == "value")?.T : null);
        if (value is null || value.DataType != (int)TensorProto.Types.DataType.Float)
        {
            return null;
        }

        var floats = Floats(value);
        return floats.Length == 1 ? floats[0] : null;
    }

    /// <summary>The output width of the projection producing <paramref name="tensor"/> (from its weight or its bias).</summary>
    private static long? Width(GraphProto graph, Dictionary<string, TensorProto> initializers, Dictionary<string, NodeProto> producer, string tensor)
    {
        if (!producer.TryGetValue(tensor, out var node))
        {
            return null;
        }

        if (node.OpType is "MatMul" or "DynamicQuantizeMatMul" && initializers.TryGetValue(node.Input[1], out var weight) && weight.Dims.Count == 2)
        {
            return weight.Dims[1];
        }

        return node.OpType == "Add" ? node.Input.Select(i => initializers.GetValueOrDefault(i)).FirstOrDefault(b => b is { Dims.Count: 1 })?.Dims[0] : null;
    }

    /// <summary>When <paramref name="tensor"/> is a 1-D constant bias [width] added to another tensor: that tensor and the bias.</summary>
    private static (string Input, TensorProto Bias)? ConstantBias(Dictionary<string, NodeProto> producer, Dictionary<string, TensorProto> initializers, string tensor, long width)
    {
        if (!producer.TryGetValue(tensor, out var add) || add.OpType != "Add" || add.Input.Count != 2)
        {
            return null;
        }

        for (var i = 0; i < 2; i++)
        {
            if (initializers.TryGetValue(add.Input[i], out var bias) && bias.Dims.Count == 1 && bias.Dims[0] == width
                && bias.DataType == (int)TensorProto.Types.DataType.Float && !initializers.ContainsKey(add.Input[1 - i]))
            {
                return (add.Input[1 - i], bias);
            }
        }

        return null;
    }

    private static float[] Floats(TensorProto tensor) =>
        tensor.RawData.Length > 0 ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray() : [.. tensor.FloatData];

    /// <summary>
    /// The tensor is the input of a layer norm: a <c>LayerNormalization</c> node, or the exporter's decomposed form,
    /// which subtracts the tensor's ReduceMean from it.
    /// </summary>
    private static bool FeedsLayerNorm(string tensor, IReadOnlyList<NodeProto> consumers) =>
        consumers.Any(c => c.OpType == "LayerNormalization" && c.Input[0] == tensor)
        || (consumers.Any(c => c.OpType == "ReduceMean" && c.Input[0] == tensor) && consumers.Any(c => c.OpType == "Sub" && c.Input[0] == tensor));
}
