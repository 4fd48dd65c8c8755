using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Training.Native;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StreamBert.Training.Modeling;

/// <summary>
/// What a fine-tuned task head shares, whatever its kind: the encoder layers it reads (concatenated, as
/// <see cref="Features"/> builds them at serving time) and one Linear layer to the logits, which the serving side
/// runs as a <see cref="DenseHead"/> without hidden layer.
/// </summary>
public interface IBertHead
{
    /// <summary><c>sequence</c> or <c>token</c>, as in <see cref="HeadSpec.Kind"/>.</summary>
    string Kind { get; }

    /// <summary>Hidden-state indices (0 = embeddings, K = layer K) whose vectors are concatenated.</summary>
    IReadOnlyList<int> Layers { get; }

    int InputDim { get; }

    int ClassCount { get; }

    /// <summary>The output layer: weight [classes, input], bias [classes].</summary>
    Linear Classifier { get; }

    /// <summary>The serving form of this head (a linear <see cref="DenseHead"/> with the same weights).</summary>
    DenseHead ToDenseHead();

    /// <summary>Takes the weights of a served linear head (the inverse of <see cref="ToDenseHead"/>), to continue training it.</summary>
    void LoadDenseHead(DenseHead head);

    /// <summary>The manifest entry for this head.</summary>
    HeadSpec ToSpec(IReadOnlyList<string> labels, string file);
}

/// <summary>
/// One label per text: the chosen layers' hidden states pooled (mean over real tokens, [CLS] and [SEP] included, as
/// the serving path and sentence-transformers pool; or the [CLS] vector), optional dropout, then a Linear layer.
/// </summary>
public sealed class SequenceClassificationHead : nn.Module<IReadOnlyList<Tensor>, Tensor, Tensor>, IBertHead
{
    private readonly Linear _classifier;
    private readonly Dropout? _dropout;

    /// <param name="hidden">Encoder width.</param>
    /// <param name="classes">Number of labels.</param>
    /// <param name="layers">Hidden states read (default: the last, <paramref name="encoderLayers"/>).</param>
    /// <param name="encoderLayers">Layers of the encoder, for the default.</param>
    /// <param name="pooling"><c>mean</c> or <c>cls</c>.</param>
    /// <param name="dropout">Dropout before the classifier while training; 0 for none.</param>
    public SequenceClassificationHead(int hidden, int classes, IReadOnlyList<int>? layers = null, int encoderLayers = 6, string pooling = "mean", double dropout = 0.1)
        : base(TorchRuntime.Ready(nameof(SequenceClassificationHead)))
    {
        if (pooling is not ("mean" or "cls"))
        {
            throw new ArgumentException($"Pooling must be mean or cls, not {pooling}.", nameof(pooling));
        }

        Layers = layers ?? [encoderLayers];
        ArgumentOutOfRangeException.ThrowIfZero(Layers.Count);
        Pooling = pooling;
        InputDim = Features.Width(hidden, Layers.Count);
        ClassCount = classes;
        _classifier = nn.Linear(InputDim, classes);
        register_module("classifier", _classifier);
        if (dropout > 0)
        {
            _dropout = nn.Dropout(dropout);
            register_module("dropout", _dropout);
        }
    }

    public string Kind => "sequence";

    public IReadOnlyList<int> Layers { get; }

    public string Pooling { get; }

    public int InputDim { get; }

    public int ClassCount { get; }

    public Linear Classifier => _classifier;

    /// <summary>Logits [batch, classes].</summary>
    /// <param name="hiddenStates">The encoder's output, all layers.</param>
    /// <param name="attentionMask">int64 [batch, sequence].</param>
    public override Tensor forward(IReadOnlyList<Tensor> hiddenStates, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var features = Concatenate(hiddenStates, Layers);
        Tensor pooled;
        if (Pooling == "cls")
        {
            pooled = features[TensorIndex.Colon, 0];
        }
        else
        {
            var mask = attentionMask.unsqueeze(-1).to_type(features.dtype);
            pooled = (features * mask).sum(1) / mask.sum(1);
        }

        var input = _dropout is null ? pooled : _dropout.forward(pooled);
        return _classifier.forward(input).MoveToOuterDisposeScope();
    }

    public DenseHead ToDenseHead() => HeadExport.ToDenseHead(_classifier, InputDim, ClassCount);

    public void LoadDenseHead(DenseHead head) => HeadExport.LoadDenseHead(_classifier, head, InputDim, ClassCount);

    public HeadSpec ToSpec(IReadOnlyList<string> labels, string file) =>
        new() { Kind = Kind, Labels = labels, Layers = Layers, Pooling = Pooling, WordShape = false, File = file };

    internal static Tensor Concatenate(IReadOnlyList<Tensor> hiddenStates, IReadOnlyList<int> layers) =>
        layers.Count == 1 ? hiddenStates[layers[0]] : cat(layers.Select(l => hiddenStates[l]).ToArray(), -1);
}

/// <summary>
/// One tag per token: the chosen layers' vectors of each token, optionally followed by its word's shape
/// (<see cref="WordShape"/>, which the uncased encoder cannot see), optional dropout, then a Linear layer.
/// </summary>
public sealed class TokenClassificationHead : nn.Module<IReadOnlyList<Tensor>, Tensor?, Tensor>, IBertHead
{
    private readonly Linear _classifier;
    private readonly Dropout? _dropout;

    /// <param name="hidden">Encoder width.</param>
    /// <param name="classes">Number of tags.</param>
    /// <param name="layers">Hidden states read (default: the last, <paramref name="encoderLayers"/>).</param>
    /// <param name="encoderLayers">Layers of the encoder, for the default.</param>
    /// <param name="wordShape">Append <see cref="WordShape.Size"/> word-shape features to each token.</param>
    /// <param name="dropout">Dropout on the encoder features while training; 0 for none.</param>
    public TokenClassificationHead(int hidden, int classes, IReadOnlyList<int>? layers = null, int encoderLayers = 6, bool wordShape = false, double dropout = 0.1)
        : base(TorchRuntime.Ready(nameof(TokenClassificationHead)))
    {
        Layers = layers ?? [encoderLayers];
        ArgumentOutOfRangeException.ThrowIfZero(Layers.Count);
        WordShape = wordShape;
        InputDim = Features.Width(hidden, Layers.Count) + (wordShape ? Engine.Inference.WordShape.Size : 0);
        ClassCount = classes;
        _classifier = nn.Linear(InputDim, classes);
        register_module("classifier", _classifier);
        if (dropout > 0)
        {
            _dropout = nn.Dropout(dropout);
            register_module("dropout", _dropout);
        }
    }

    public string Kind => "token";

    public IReadOnlyList<int> Layers { get; }

    /// <summary>Whether word shapes follow the encoder features.</summary>
    public bool WordShape { get; }

    public int InputDim { get; }

    public int ClassCount { get; }

    public Linear Classifier => _classifier;

    /// <summary>Logits [batch, sequence, tags].</summary>
    /// <param name="hiddenStates">The encoder's output, all layers.</param>
    /// <param name="wordShapes">float [batch, sequence, 5] when the head reads word shapes, else null.</param>
    public override Tensor forward(IReadOnlyList<Tensor> hiddenStates, Tensor? wordShapes)
    {
        using var scope = NewDisposeScope();
        var features = SequenceClassificationHead.Concatenate(hiddenStates, Layers);
        if (_dropout is not null)
        {
            features = _dropout.forward(features);
        }

        if (WordShape)
        {
            var shapes = wordShapes ?? throw new ArgumentNullException(nameof(wordShapes), "This head reads word shapes.");
            features = cat([features, shapes.to_type(features.dtype)], -1);
        }

        return _classifier.forward(features).MoveToOuterDisposeScope();
    }

    public DenseHead ToDenseHead() => HeadExport.ToDenseHead(_classifier, InputDim, ClassCount);

    public void LoadDenseHead(DenseHead head) => HeadExport.LoadDenseHead(_classifier, head, InputDim, ClassCount);

    public HeadSpec ToSpec(IReadOnlyList<string> labels, string file) =>
        new() { Kind = Kind, Labels = labels, Layers = Layers, WordShape = WordShape, File = file };
}

internal static class HeadExport
{
    public static void LoadDenseHead(Linear classifier, DenseHead head, int inputDim, int classes)
    {
        if (head.HiddenDim != 0 || head.Standardizes || head.InputDim != inputDim || head.ClassCount != classes)
        {
            throw new InvalidDataException(
                $"Only a linear head without standardisation of {inputDim}→{classes} can be continued; this one is {head.InputDim}→{head.HiddenDim}→{head.ClassCount}{(head.Standardizes ? ", standardised" : "")}.");
        }

        using var noGrad = no_grad();
        var device = classifier.weight!.device;
        classifier.weight!.copy_(tensor(head.OutputWeightsArray, [classes, inputDim]).to(device));
        classifier.bias!.copy_(tensor(head.OutputBiasArray, [classes]).to(device));
    }

    /// <summary>A linear DenseHead (hidden dim 0, no standardisation): logits = W·x + b, W in the same [out, in] layout.</summary>
    public static DenseHead ToDenseHead(Linear classifier, int inputDim, int classes)
    {
        var head = new DenseHead(inputDim, 0, classes);
        using var scope = NewDisposeScope();
        classifier.weight!.detach().cpu().contiguous().data<float>().CopyTo(head.OutputWeightsArray);
        classifier.bias!.detach().cpu().contiguous().data<float>().CopyTo(head.OutputBiasArray);
        return head;
    }
}
