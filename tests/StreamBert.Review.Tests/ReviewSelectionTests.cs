using StreamBert.Review.Spam;

namespace StreamBert.Review.Tests;

public sealed class ReviewSelectionTests
{
    [Fact]
    public void Pick_Uncertain_ClosestToTheThresholdFirst()
    {
        double[] scores = [0.97, 0.32, 0.02, 0.29, 0.6];

        Assert.Equal([3, 1, 2], ReviewSelection.Pick(scores, threshold: 0.3, count: 3, QueueMode.Uncertain, seed: 0));
    }

    [Fact]
    public void Pick_Uncertain_EqualMarginsKeepArrivalOrder()
    {
        // Exact in float (the queue stores scores as served, in float), so the three margins are exactly equal.
        double[] scores = [0.9, 0.25, 0.75, 0.25];

        Assert.Equal([1, 2, 3], ReviewSelection.Pick(scores, threshold: 0.5, count: 3, QueueMode.Uncertain, seed: 0));
    }

    [Fact]
    public void Pick_Random_SeededDistinctAndIndependentOfScores()
    {
        var scores = Enumerable.Range(0, 200).Select(i => i / 200.0).ToArray();

        var first = ReviewSelection.Pick(scores, 0.5, 50, QueueMode.Random, seed: 3);
        var again = ReviewSelection.Pick(scores, 0.5, 50, QueueMode.Random, seed: 3);
        var other = ReviewSelection.Pick(scores, 0.5, 50, QueueMode.Random, seed: 4);
        var flat = ReviewSelection.Pick(new double[200], 0.5, 50, QueueMode.Random, seed: 3);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(50, first.Distinct().Count());
        // The sample depends on arrival order and seed only, not on what the model scored.
        Assert.Equal(first, flat);
    }

    [Fact]
    public void Pick_MoreThanTheWindow_ReturnsEveryItemOnce()
    {
        double[] scores = [0.1, 0.9, 0.5];

        Assert.Equal([0, 1, 2], ReviewSelection.Pick(scores, 0.5, 10, QueueMode.Uncertain, seed: 0).Order());
        Assert.Empty(ReviewSelection.Pick([], 0.5, 10, QueueMode.Random, seed: 0));
    }
}
