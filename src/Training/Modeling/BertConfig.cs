using StreamBert.Training.Onnx;

namespace StreamBert.Training.Modeling;

/// <summary>Shape of a BERT encoder. <see cref="FromWeights"/> reads it off a pretrained model's tensors.</summary>
public sealed record BertConfig
{
    public required int VocabSize { get; init; }
    public required int Hidden { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int Intermediate { get; init; }
    public required int MaxPositions { get; init; }
    public required int TypeVocabSize { get; init; }
    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>
    /// Whether token types carry the case of each piece's word (<see cref="Engine.Inference.WordShape.CaseType"/>)
    /// instead of the segment: the vocabulary is uncased, so without them the encoder never sees a capital.
    /// </summary>
    public bool CaseTypes { get; init; }

    /// <summary>Dropout on embeddings, attention probabilities and sublayer outputs while training (BERT's 0.1).</summary>
    public double Dropout { get; init; } = 0.1;

    public int HeadSize => Hidden / Heads;

    /// <summary>all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, FFN 1536.</summary>
    public static BertConfig MiniLmL6 { get; } = new()
    {
        VocabSize = 30522, Hidden = 384, Layers = 6, Heads = 12, Intermediate = 1536, MaxPositions = 512, TypeVocabSize = 2,
    };

    /// <summary>Every dimension from the tensors; the head count (which no tensor shows) from the graph or the caller.</summary>
    public static BertConfig FromWeights(IReadOnlyDictionary<string, NamedTensor> weights, int heads)
    {
        NamedTensor Get(string name) => weights.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"The model has no {name}.");
        var words = Get("embeddings.word_embeddings.weight");
        var layers = 0;
        while (weights.ContainsKey($"encoder.layer.{layers}.output.LayerNorm.bias"))
        {
            layers++;
        }

        var config = new BertConfig
        {
            VocabSize = checked((int)words.Shape[0]),
            Hidden = checked((int)words.Shape[1]),
            Layers = layers,
            Heads = heads,
            Intermediate = checked((int)Get("encoder.layer.0.intermediate.dense.bias").Shape[0]),
            MaxPositions = checked((int)Get("embeddings.position_embeddings.weight").Shape[0]),
            TypeVocabSize = checked((int)Get("embeddings.token_type_embeddings.weight").Shape[0]),
        };
        if (layers == 0 || config.Hidden % heads != 0)
        {
            throw new InvalidDataException($"Not a BERT encoder: {layers} layers, hidden {config.Hidden}, {heads} heads.");
        }

        return config;
    }
}
