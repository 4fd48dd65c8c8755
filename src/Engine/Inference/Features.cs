namespace StreamBert.Engine.Inference;

/// <summary>
/// Turns hidden states into the feature vectors task heads read: the concatenation, over the head's
/// layers, of a pooled sentence vector or of one token's vector. Training and serving both go through
/// here, so a head always sees features built the same way.
/// </summary>
public static class Features
{
    public static int Width(int hidden, int layerCount) => hidden * layerCount;

    /// <summary>Mean over the first <paramref name="tokens"/> positions of a row (all real tokens, [CLS] and [SEP] included, as sentence-transformers pools).</summary>
    public static void MeanPool(HiddenStates states, IReadOnlyList<int> layers, int row, int tokens, Span<float> destination) =>
        MeanPool(states, layers, row, 0, tokens, destination);

    /// <summary>Mean over the <paramref name="tokens"/> positions of a sequence that starts at <paramref name="start"/> of its row (a packed row holds several).</summary>
    public static void MeanPool(HiddenStates states, IReadOnlyList<int> layers, int row, int start, int tokens, Span<float> destination)
    {
        var hidden = states.Hidden;
        var scale = 1f / tokens;
        for (var l = 0; l < layers.Count; l++)
        {
            var target = destination.Slice(l * hidden, hidden);
            target.Clear();
            var layer = states.Layer(layers[l]);
            var rowStart = ((row * states.Length) + start) * hidden;
            for (var t = 0; t < tokens; t++)
            {
                var vector = layer.Slice(rowStart + (t * hidden), hidden);
                System.Numerics.Tensors.TensorPrimitives.Add(target, vector, target);
            }

            System.Numerics.Tensors.TensorPrimitives.Multiply(target, scale, target);
        }
    }

    /// <summary>The concatenated vectors of one token position.</summary>
    public static void Token(HiddenStates states, IReadOnlyList<int> layers, int row, int position, Span<float> destination)
    {
        var hidden = states.Hidden;
        for (var l = 0; l < layers.Count; l++)
        {
            states.Token(layers[l], row, position).CopyTo(destination.Slice(l * hidden, hidden));
        }
    }

    /// <summary>Sequence features by the head's pooling rule.</summary>
    public static void Sequence(HiddenStates states, IReadOnlyList<int> layers, string pooling, int row, int tokens, Span<float> destination) =>
        Sequence(states, layers, pooling, row, 0, tokens, destination);

    /// <summary>Sequence features of a sequence that starts at <paramref name="start"/> of its row.</summary>
    public static void Sequence(HiddenStates states, IReadOnlyList<int> layers, string pooling, int row, int start, int tokens, Span<float> destination)
    {
        if (pooling == "cls")
        {
            Token(states, layers, row, start, destination);
        }
        else
        {
            MeanPool(states, layers, row, start, tokens, destination);
        }
    }
}
