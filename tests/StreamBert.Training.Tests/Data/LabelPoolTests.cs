using StreamBert.Training.Data;

namespace StreamBert.Training.Tests.Data;

public class LabelPoolTests
{
    private static List<LabeledText> Rows(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new LabeledText($"email {i}", i % 3 == 0 ? "spam" : "ham"))];

    [Fact]
    public void Split_AnyInputOrder_SamePoolAndEvaluationInTheSameOrder()
    {
        var rows = Rows(2_000);
        var shuffled = rows.ToList();
        new Random(5).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(shuffled));

        var a = LabelPool.Split(rows, maxEvaluation: 150);
        var b = LabelPool.Split(shuffled, maxEvaluation: 150);

        Assert.Equal(a.Pool.Select(r => r.Text), b.Pool.Select(r => r.Text));
        Assert.Equal(a.Evaluation.Select(r => r.Text), b.Evaluation.Select(r => r.Text));
    }

    [Fact]
    public void Split_Evaluation_IsCappedDisjointFromThePoolAndDrawnFromTheHeldOutSplit()
    {
        var split = LabelPool.Split(Rows(2_000), maxEvaluation: 150);

        Assert.Equal(150, split.Evaluation.Count);
        Assert.All(split.Evaluation, r => Assert.True(DatasetSplit.IsTest(r.Text)));
        Assert.All(split.Pool, r => Assert.False(DatasetSplit.IsTest(r.Text)));
        Assert.Empty(split.Pool.Select(r => r.Text).Intersect(split.Evaluation.Select(r => r.Text)));
        // About 80% of 2,000 texts land in the pool; none are lost to the cap, which applies to evaluation only.
        Assert.InRange(split.Pool.Count, 1_500, 1_700);
    }

    [Fact]
    public void Split_DuplicateTexts_CountOnce()
    {
        var rows = Rows(300);
        var split = LabelPool.Split([.. rows, .. rows], maxEvaluation: 1_000);

        Assert.Equal(300, split.Pool.Count + split.Evaluation.Count);
    }

    [Fact]
    public void ReviewOrder_SameSeed_StepsArePrefixesOfOneOrder()
    {
        var pool = LabelPool.Split(Rows(1_000), maxEvaluation: 0).Pool;

        var order = LabelPool.ReviewOrder(pool, seed: 17);
        var again = LabelPool.ReviewOrder([.. pool.Reverse()], seed: 17);

        Assert.Equal(order.Select(r => r.Text), again.Select(r => r.Text));
        Assert.Equal(pool.Count, order.Select(r => r.Text).Distinct().Count());
    }

    [Fact]
    public void ReviewOrder_OtherSeed_OtherFirstLabels()
    {
        var pool = LabelPool.Split(Rows(1_000), maxEvaluation: 0).Pool;

        var first = LabelPool.ReviewOrder(pool, seed: 17).Take(25).Select(r => r.Text).ToHashSet();
        var other = LabelPool.ReviewOrder(pool, seed: 18).Take(25).Select(r => r.Text).ToHashSet();

        Assert.True(first.Intersect(other).Count() < 10, "two seeds should give mostly different first labels");
    }
}
