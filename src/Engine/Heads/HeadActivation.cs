namespace StreamBert.Engine.Heads;

/// <summary>Nonlinearity of a <see cref="DenseHead"/>'s hidden layer. The numeric values are stored in head files.</summary>
public enum HeadActivation
{
    /// <summary>No hidden layer: the head is a linear (multinomial logistic) classifier.</summary>
    None = 0,

    /// <summary><c>max(0, x)</c>. The default: exact, cheap, and identical in every runtime the head may be exported to.</summary>
    Relu = 1,

    /// <summary>
    /// GELU with the tanh approximation, <c>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))</c>, the same as PyTorch's
    /// <c>gelu(approximate="tanh")</c> and ONNX <c>Gelu(approximate="tanh")</c>; .NET has no erf for the exact form.
    /// </summary>
    Gelu = 2,
}
