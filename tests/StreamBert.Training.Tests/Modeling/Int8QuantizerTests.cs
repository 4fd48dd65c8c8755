using StreamBert.Engine.Models;
using StreamBert.Training.Onnx;
using Xunit.Abstractions;

namespace StreamBert.Training.Tests.Modeling;

[Collection(BertCollection.Name)]
public sealed class Int8QuantizerTests(BertFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public void Quantize_WrittenEncoder_Rewrites36MatMulsAndKeepsMeanPooledCosineAbove098()
    {
        var fp32 = BertOnnxWriter.Build(fixture.Encoder);

        var (int8, quantized) = Int8Quantizer.Quantize(fp32);
        var cosine = Int8Parity.MeanPooledCosine(fp32, int8, fixture.Tokenizer, fixture.Texts, BertFixture.MaxLength);

        output.WriteLine($"{quantized} MatMuls quantised; mean-pooled cosine to fp32: min {cosine.Min:F4}, mean {cosine.Mean:F4} over {fixture.Texts.Count} texts");
        Assert.Equal(36, quantized);
        Assert.Equal(36, int8.Graph.Node.Count(n => n.OpType == "DynamicQuantizeMatMul"));
        Assert.DoesNotContain(int8.Graph.Initializer, i => i.Name.EndsWith(".weight.T", StringComparison.Ordinal));
        Assert.InRange(cosine.Mean, 0.98, 1.0 + 1e-6);
        Assert.InRange(cosine.Min, 0.95, 1.0 + 1e-6);
    }
}
