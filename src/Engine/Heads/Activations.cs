using System.Numerics.Tensors;

namespace StreamBert.Engine.Heads;

/// <summary>Vectorised activation functions and their derivatives, shared by inference and training.</summary>
internal static class Activations
{
    // GELU(x) = 0.5·x·(1 + tanh(u)) = x·σ(2u), with u = √(2/π)·(x + 0.044715·x³).
    internal const float TwoSqrtTwoOverPi = 1.5957691216057308f;
    internal const float Cubic = 0.044715f * TwoSqrtTwoOverPi;

    /// <summary>Applies <paramref name="activation"/> in place; <paramref name="scratch"/> must be as long as <paramref name="values"/> for GELU.</summary>
    public static void Apply(HeadActivation activation, Span<float> values, Span<float> scratch)
    {
        switch (activation)
        {
            case HeadActivation.None:
                return;
            case HeadActivation.Relu:
                TensorPrimitives.Max(values, 0f, values);
                return;
            case HeadActivation.Gelu:
                var t = scratch[..values.Length];
                TensorPrimitives.Multiply(values, values, t);       // x²
                TensorPrimitives.Multiply(t, Cubic, t);
                TensorPrimitives.Add(t, TwoSqrtTwoOverPi, t);       // 2√(2/π)·(1 + 0.044715·x²)
                TensorPrimitives.Multiply(t, values, t);            // 2u
                TensorPrimitives.Sigmoid(t, t);
                TensorPrimitives.Multiply(values, t, values);
                return;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>
    /// Multiplies <paramref name="gradient"/> in place by the activation's derivative at <paramref name="preActivation"/>.
    /// GELU needs two scratch spans as long as the gradient.
    /// </summary>
    public static void Backward(
        HeadActivation activation, ReadOnlySpan<float> preActivation, Span<float> gradient, Span<float> scratch1, Span<float> scratch2)
    {
        switch (activation)
        {
            case HeadActivation.None:
                return;
            case HeadActivation.Relu:
                for (int i = 0; i < gradient.Length; i++)
                {
                    if (preActivation[i] <= 0f)
                    {
                        gradient[i] = 0f;
                    }
                }

                return;
            case HeadActivation.Gelu:
                // d/dx x·σ(2u) = s + x·s·(1 − s)·2u', with s = σ(2u) and 2u' = 2√(2/π)·(1 + 3·0.044715·x²).
                int n = gradient.Length;
                var s = scratch1[..n];
                var d = scratch2[..n];
                TensorPrimitives.Multiply(preActivation, preActivation, d);           // x²
                TensorPrimitives.Multiply(d, Cubic, s);
                TensorPrimitives.Add(s, TwoSqrtTwoOverPi, s);                         // 2u/x
                TensorPrimitives.Multiply(s, preActivation, s);                       // 2u
                TensorPrimitives.Sigmoid(s, s);                                       // s
                TensorPrimitives.Multiply(d, 3f * Cubic, d);
                TensorPrimitives.Add(d, TwoSqrtTwoOverPi, d);                         // 2u'
                TensorPrimitives.Multiply(d, preActivation, d);                       // x·2u'
                for (int i = 0; i < n; i++)
                {
                    float si = s[i];
                    gradient[i] *= si + d[i] * si * (1f - si);
                }

                return;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }
}
