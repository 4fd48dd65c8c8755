using StreamBert.Cli.Bench;
using StreamBert.Engine.Inference;

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
}
