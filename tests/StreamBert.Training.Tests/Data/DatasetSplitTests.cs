using StreamBert.Training.Data;

namespace StreamBert.Training.Tests.Data;

public class DatasetSplitTests
{
    [Theory]
    // Reference values: Python int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100.
    [InlineData("", 52)]
    [InlineData("hello", 42)]
    [InlineData("Free entry in 2 a wkly comp", 70)]
    [InlineData("naïve café ☕", 31)]
    public void Bucket_KnownKeys_MatchesTheDocumentedHash(string key, int expected)
    {
        Assert.Equal(expected, DatasetSplit.Bucket(key));
    }

    [Fact]
    public void Bucket_LongKey_UsesThePooledBufferAndStaysStable()
    {
        string key = new('x', 5000);

        Assert.Equal(DatasetSplit.Bucket(key), DatasetSplit.Bucket(key.AsSpan()));
        Assert.InRange(DatasetSplit.Bucket(key), 0, 99);
    }

    [Fact]
    public void IsTest_ExtremePercentages_AreNeverAndAlways()
    {
        Assert.False(DatasetSplit.IsTest("hello", 0));
        Assert.True(DatasetSplit.IsTest("hello", 100));
        Assert.True(DatasetSplit.IsTest("hello", 43));
        Assert.False(DatasetSplit.IsTest("hello", 42));
    }

    [Fact]
    public void Split_ManyTexts_PutsAboutTwentyPercentInTestAndKeepsOrder()
    {
        var items = Enumerable.Range(0, 10_000).Select(i => new LabeledText($"text {i}", i % 2 == 0 ? "ham" : "spam")).ToList();

        var split = DatasetSplit.Split(items);

        Assert.Equal(10_000, split.Train.Count + split.Test.Count);
        Assert.InRange(split.Test.Count, 1850, 2150);
        Assert.All(split.Test, t => Assert.True(DatasetSplit.Bucket(t.Text) < 20));
        var position = items.Select((item, i) => (item.Text, i)).ToDictionary(p => p.Text, p => p.i);
        Assert.True(IsIncreasing(split.Train.Select(t => position[t.Text])), "train keeps input order");
        Assert.True(IsIncreasing(split.Test.Select(t => position[t.Text])), "test keeps input order");
        Assert.True(split.Test.SequenceEqual(DatasetSplit.Split(items).Test), "the split is deterministic");
    }

    private static bool IsIncreasing(IEnumerable<int> values)
    {
        var array = values.ToArray();
        return array.Zip(array.Skip(1)).All(pair => pair.First < pair.Second);
    }

    [Fact]
    public void Deduplicate_ConflictingLabels_KeepsMajorityAtFirstPositionAndReports()
    {
        LabeledText[] items =
        [
            new("a", "ham"), new("b", "spam"), new("a", "spam"), new("c", "ham"),
            new("a", "spam"), new("b", "ham"), new("c", "ham"),
        ];

        var result = DatasetSplit.Deduplicate(items);

        // a: spam 2 > ham 1 → spam; b: 1–1 tie → first label (spam); c: no conflict.
        Assert.Equal([new("a", "spam"), new("b", "spam"), new("c", "ham")], result.Items);
        Assert.Equal((7, 4, 2), (result.InputCount, result.DuplicatesRemoved, result.ConflictingTexts));
        Assert.Equal("a", result.Conflicts[0].Text);
        Assert.Equal([new("ham", 1), new("spam", 2)], result.Conflicts[0].LabelCounts);
        Assert.Equal("spam", result.Conflicts[0].ChosenLabel);
        Assert.Equal("spam", result.Conflicts[1].ChosenLabel);
    }

    [Fact]
    public void Deduplicate_GenericItems_RelabelsThroughTheCallback()
    {
        ClaimRow[] rows =
        [
            new() { Text = "x", Label = "no-claim", SentenceId = 1 },
            new() { Text = "x", Label = "claim", SentenceId = 2 },
            new() { Text = "x", Label = "claim", SentenceId = 3 },
        ];

        var result = DatasetSplit.Deduplicate(rows, r => r.Text, r => r.Label, (r, label) => r with { Label = label });

        var kept = Assert.Single(result.Items);
        Assert.Equal(("claim", 1L), (kept.Label, kept.SentenceId!.Value));
    }

    [Fact]
    public void Deduplicate_TextsDifferingInCase_AreDistinct()
    {
        Assert.Equal(2, DatasetSplit.Deduplicate([new("Hi", "ham"), new("hi", "ham")]).Items.Count);
    }
}
