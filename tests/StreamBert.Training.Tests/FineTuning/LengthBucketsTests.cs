using StreamBert.Training.FineTuning;

namespace StreamBert.Training.Tests.FineTuning;

public sealed class LengthBucketsTests
{
    [Fact]
    public void Plan_ManyLengths_EveryIndexOnceAndLittlePadding()
    {
        var random = new Random(1);
        var lengths = Enumerable.Range(0, 1000).Select(_ => random.Next(5, 128)).ToArray();

        var batches = LengthBuckets.Plan(lengths, l => l, batchSize: 32, chunkBatches: 10, new Random(7));

        Assert.Equal(Enumerable.Range(0, 1000), batches.SelectMany(b => b).Order());
        Assert.Equal(32, batches.Count);
        var padded = batches.Sum(b => b.Length * b.Max(i => lengths[i]));
        var unsorted = Enumerable.Range(0, 1000).Chunk(32).Sum(b => b.Length * b.Max(i => lengths[i]));
        Assert.True(padded < unsorted * 0.6, $"{padded} padded tokens against {unsorted} unsorted");
    }

    [Fact]
    public void Plan_SameSeed_SameBatches()
    {
        var lengths = Enumerable.Range(0, 100).Select(i => i % 17).ToArray();

        var first = LengthBuckets.Plan(lengths, l => l, 8, 4, new Random(3));
        var second = LengthBuckets.Plan(lengths, l => l, 8, 4, new Random(3));

        Assert.Equal(first, second);
    }

    [Theory]
    [InlineData(1, 0.1)]
    [InlineData(10, 1.0)]
    [InlineData(55, 0.5)]
    [InlineData(100, 0.0)]
    public void Schedule_WarmupTenOfHundred_LinearUpThenDown(int step, double expected) =>
        Assert.Equal(expected, FineTuner<SequenceExample>.Schedule(step, 10, 100), 9);
}
