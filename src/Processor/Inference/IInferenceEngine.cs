using StreamBert.Engine.Inference;

namespace StreamBert.Processor.Inference;

/// <summary>
/// What the engine thread calls for each batch: fill every sequence's head outputs from <paramref name="models"/>'s
/// heads. <see cref="OnnxInferenceEngine"/> serves; <see cref="NullInferenceEngine"/> measures the pipeline around it.
/// </summary>
public interface IInferenceEngine
{
    /// <summary>Runs <paramref name="batch"/> on <paramref name="models"/>; returns positions sent through the encoder (padding included).</summary>
    int Run(ModelSet models, IReadOnlyList<SequenceWork> batch);
}

/// <summary>The served engine: the model set's encoder(s) through ONNX Runtime and its task heads.</summary>
public sealed class OnnxInferenceEngine : IInferenceEngine
{
    public static OnnxInferenceEngine Instance { get; } = new();

    public int Run(ModelSet models, IReadOnlyList<SequenceWork> batch)
    {
        ArgumentNullException.ThrowIfNull(models);
        return models.Run(batch);
    }
}
