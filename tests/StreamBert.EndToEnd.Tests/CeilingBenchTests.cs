using System.Text.Json;
using StreamBert.Cli.Bench;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;

namespace StreamBert.EndToEnd.Tests;

/// <summary><c>streambert bench-ceiling</c>'s kernels and FLOPs count: fast enough to run with every test pass (one shape, short samples).</summary>
public sealed class CeilingBenchTests
{
    [Fact]
    public void Measure_EncoderShapeOneSequence_EveryKernelReportsPositiveFiniteGflops()
    {
        var results = CeilingBench.Measure(new SessionSettings { Device = DevicePreference.Cpu }, [32], 384, 1536, samples: 2, TimeSpan.FromMilliseconds(5));

        Assert.Equal(8, results.Count);
        Assert.All(results, r =>
        {
            Assert.Null(r.Error);
            Assert.True(double.IsFinite(r.GigaFlopsPerSecond) && r.GigaFlopsPerSecond > 0, $"{r.Kernel} {r.Tokens}×{r.K}×{r.N}: {r.GigaFlopsPerSecond}");
        });
        Assert.True(CeilingBench.Best(results, "fp32", 32) > 0);
        Assert.True(CeilingBench.Best(results, "int8", 32) > 0);
    }

    [Fact]
    public void PerToken_MiniLmAt32Tokens_MatchesHandCount()
    {
        // Per layer: QKV 3·384·384 + output 384·384 + FFN 2·384·1536 = 1,769,472 multiply-adds → 3,538,944 FLOPs;
        // attention scores and values 2·2·32·384 = 49,152 FLOPs; × 6 layers.
        Assert.Equal(6 * (3_538_944.0 + 49_152.0), EncoderFlops.PerToken(6, 384, 1536, 32));
    }

    [Fact]
    public void PerSequence_TinyShape_IsLengthTimesPerToken()
    {
        // 1 layer, hidden 2, FFN 4, length 3: 2·(4·2² + 2·2·4) + 4·3·2 = 88 FLOPs per token, 264 for the sequence.
        Assert.Equal(88.0, EncoderFlops.PerToken(1, 2, 4, 3));
        Assert.Equal(264.0, EncoderFlops.PerSequence(1, 2, 4, 3));
    }

    [Fact]
    public void FitAttentionLength_LinearCostPerPosition_RecoversTheConstantAndFlatCostIsInfinite()
    {
        int[] lengths = [32, 64, 128, 256];

        Assert.Equal(500, EncoderBreakdown.FitAttentionLength(lengths, [.. lengths.Select(l => 2.0 * (1 + (l / 500.0)))]), 6);
        Assert.Equal(double.PositiveInfinity, EncoderBreakdown.FitAttentionLength(lengths, [1.0, 1.0, 1.0, 1.0]));
        Assert.Equal(double.PositiveInfinity, EncoderBreakdown.FitAttentionLength(lengths, [4.0, 3.0, 2.0, 1.0]));
    }

    [Fact]
    public void GroupKernelTimes_OrtTrace_SplitsDenseAttentionNormAndOtherPerCall()
    {
        // The shapes of ONNX Runtime's own trace: a pre-packed weight MatMul lists one input, attention products two 4-D ones.
        const string Trace = """
            [
              {"cat":"Session","name":"model_run","dur":99999,"args":{}},
              {"cat":"Node","name":"MatMul_36_kernel_time","dur":4000,"args":{"op_name":"MatMul","input_type_shape":[{"float":[8,128,384]}]}},
              {"cat":"Node","name":"MatMul_36_fence_before","dur":7,"args":{"op_name":"MatMul"}},
              {"cat":"Node","name":"MatMul_40_int8_kernel_time","dur":2000,"args":{"op_name":"DynamicQuantizeMatMul","input_type_shape":[{"float":[8,128,384]},{"float":[384]},{"int8":[384]}]}},
              {"cat":"Node","name":"MatMul_79_kernel_time","dur":1000,"args":{"op_name":"FusedMatMul","input_type_shape":[{"float":[8,12,128,32]},{"float":[8,12,32,128]}]}},
              {"cat":"Node","name":"Add_82_kernel_time","dur":600,"args":{"op_name":"Add","input_type_shape":[{"float":[8,12,128,128]},{"float":[8,1,128,128]}]}},
              {"cat":"Node","name":"Softmax_83_kernel_time","dur":400,"args":{"op_name":"Softmax","input_type_shape":[{"float":[8,12,128,128]}]}},
              {"cat":"Node","name":"Add_37_kernel_time","dur":200,"args":{"op_name":"Add","input_type_shape":[{"float":[384]},{"float":[8,128,384]}]}},
              {"cat":"Node","name":"SkipLayerNorm_kernel_time","dur":1800,"args":{"op_name":"SkipLayerNormalization","input_type_shape":[{"float":[8,128,384]}]}},
              {"cat":"Node","name":"Gather_5_kernel_time","dur":100,"args":{"op_name":"Gather","input_type_shape":[{"float":[512,384]},{"int64":[8,128]}]}}
            ]
            """;
        using var trace = JsonDocument.Parse(Trace);

        var groups = EncoderBreakdown.GroupKernelTimes(trace.RootElement, calls: 2);

        Assert.Equal(3.0, groups[EncoderBreakdown.Dense], 9);
        Assert.Equal(1.0, groups[EncoderBreakdown.Attention], 9);
        Assert.Equal(1.0, groups[EncoderBreakdown.NormActivation], 9);
        Assert.Equal(0.05, groups[EncoderBreakdown.Other], 9);
    }

    [Fact]
    public void Measure_SmallBatch_RatesForEveryRowLengthAndAProfileWithDenseLayersInBothPrecisions()
    {
        var model = EncoderGraph.Parse(MiniLmResources.Ensure().ModelPath);
        var shape = EncoderShape.Read(model);
        var int8 = Int8Quantizer.Quantize(model).Model;
        var settings = new SessionSettings { Device = DevicePreference.Cpu };
        var kernels = CeilingBench.Measure(settings, [256], shape.Hidden, shape.Ffn, samples: 1, TimeSpan.FromMilliseconds(5));

        var report = EncoderBreakdown.Measure(model, int8, shape, settings, tokens: 256, profileRowLength: 64, rounds: 1, kernels);

        Assert.Equal(2 * EncoderBreakdown.RowLengths.Length, report.RowLengths.Count);
        Assert.All(report.RowLengths, r => Assert.True(r.TokensPerSecond > 0 && r.Rows * r.RowLength == 256, $"{r.Precision} L {r.RowLength}: {r.Rows} rows, {r.TokensPerSecond} tokens/s"));
        Assert.Equal(["fp32", "int8"], report.Fits.Select(f => f.Precision));
        foreach (var precision in new[] { "fp32", "int8" })
        {
            var dense = report.Operators.Single(o => o.Precision == precision && o.Group == EncoderBreakdown.Dense);
            var attention = report.Operators.Single(o => o.Precision == precision && o.Group == EncoderBreakdown.Attention);
            Assert.True(dense.MillisecondsPerCall > 0 && attention.MillisecondsPerCall > 0, $"{precision}: dense {dense.MillisecondsPerCall} ms, attention {attention.MillisecondsPerCall} ms");
            Assert.Equal(1.0, report.Operators.Where(o => o.Precision == precision).Sum(o => o.Share), 6);
        }

        var bound = Assert.IsType<Int8Bound>(report.Bound);
        Assert.True(bound.MeasuredRatio > 0 && bound.DenseSpeedup > 0 && bound.RatioWithFreeDenseLayers > 0, bound.ToString());
        using var text = new StringWriter();
        EncoderBreakdown.WriteTables(report, text);
        Assert.Contains("Amdahl", text.ToString(), StringComparison.Ordinal);
    }
}
