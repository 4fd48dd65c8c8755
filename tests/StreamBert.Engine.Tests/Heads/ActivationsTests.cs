using StreamBert.Engine.Heads;

namespace StreamBert.Engine.Tests.Heads;

public class ActivationsTests
{
    private static readonly float[] Points = [-6f, -3f, -1.5f, -0.7f, -0.1f, 0.05f, 0.3f, 1f, 2.5f, 7f];

    private static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    [Fact]
    public void Apply_Gelu_MatchesTheTanhFormula()
    {
        var values = (float[])Points.Clone();

        Activations.Apply(HeadActivation.Gelu, values, new float[values.Length]);

        for (int i = 0; i < Points.Length; i++)
        {
            Assert.Equal(GeluTanh(Points[i]), values[i], 1e-5);
        }
    }

    [Fact]
    public void Apply_Relu_ClampsNegatives()
    {
        var values = (float[])Points.Clone();

        Activations.Apply(HeadActivation.Relu, values, default);

        Assert.Equal(Points.Select(p => Math.Max(0f, p)), values);
    }

    [Theory]
    [InlineData(HeadActivation.Gelu)]
    [InlineData(HeadActivation.Relu)]
    public void Backward_MatchesFiniteDifferences(HeadActivation activation)
    {
        var gradient = Enumerable.Repeat(1f, Points.Length).ToArray();
        int n = Points.Length;

        Activations.Backward(activation, Points, gradient, new float[n], new float[n]);

        for (int i = 0; i < n; i++)
        {
            const double h = 1e-4;
            double x = Points[i];
            double numeric = activation == HeadActivation.Gelu
                ? (GeluTanh(x + h) - GeluTanh(x - h)) / (2 * h)
                : (Math.Max(0, x + h) - Math.Max(0, x - h)) / (2 * h);
            Assert.Equal(numeric, gradient[i], 1e-4);
        }
    }
}
