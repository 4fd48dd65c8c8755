using StreamBert.Contracts;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Tests;

public sealed class SpamQueueTests
{
    [Fact]
    public void Take_Uncertain_SmallestMarginAroundThresholdFirst()
    {
        var queue = new SpamQueue(capacity: 10, threshold: 0.5);
        Add(queue, "sure-spam", 0.97f);
        Add(queue, "coin-toss", 0.51f);
        Add(queue, "sure-ham", 0.02f);
        Add(queue, "leaning-ham", 0.40f);

        Assert.Equal(["coin-toss", "leaning-ham", "sure-spam", "sure-ham"], queue.Take(QueueMode.Uncertain, 10).Select(i => i.Id));
    }

    [Fact]
    public void Take_Uncertain_UsesTheConfiguredThreshold()
    {
        var queue = new SpamQueue(capacity: 10, threshold: 0.9);
        Add(queue, "half", 0.5f);
        Add(queue, "near-threshold", 0.88f);

        Assert.Equal("near-threshold", queue.Take(QueueMode.Uncertain, 1).Single().Id);
    }

    [Fact]
    public void Take_Random_SameSeedSameSample_OtherSeedOtherOrder()
    {
        var queue = new SpamQueue(capacity: 100, threshold: 0.5);
        for (var i = 0; i < 30; i++)
        {
            Add(queue, $"m{i}", i / 30f);
        }

        var first = queue.Take(QueueMode.Random, 10, seed: 7).Select(i => i.Id).ToList();
        var again = queue.Take(QueueMode.Random, 10, seed: 7).Select(i => i.Id).ToList();
        var other = queue.Take(QueueMode.Random, 10, seed: 8).Select(i => i.Id).ToList();

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.NotEqual(queue.Take(QueueMode.Uncertain, 10).Select(i => i.Id), first);
    }

    [Fact]
    public void Add_BeyondCapacity_DropsTheSurestItem()
    {
        var queue = new SpamQueue(capacity: 3, threshold: 0.5);
        Add(queue, "a", 0.55f);
        Add(queue, "surest", 0.999f);
        Add(queue, "b", 0.45f);
        Add(queue, "c", 0.6f);

        Assert.Equal(3, queue.Count);
        Assert.Null(queue.Find("surest"));
    }

    [Fact]
    public void AddOutput_BeforeItsInput_JoinsWhenTheInputArrives()
    {
        var queue = new SpamQueue(capacity: 3, threshold: 0.5);
        queue.AddOutput(new SpamLabel("x", LabelSets.Spam, 0.7f, new ModelRef("spam", "v2")));
        Assert.Null(queue.Find("x"));

        queue.AddInput(new MessageView("x", "Subject", "from@example.com", "body", "Subject\nbody"));

        var item = queue.Find("x");
        Assert.NotNull(item);
        Assert.Equal(("Subject\nbody", "spam", "v2"), (item.ModelText, item.Verdict, item.ModelVersion));
    }

    [Fact]
    public void MarkLabelled_BeforeTheOutput_KeepsTheItemOutOfTheQueue()
    {
        var queue = new SpamQueue(capacity: 3, threshold: 0.5);
        queue.MarkLabelled("x");
        Add(queue, "x", 0.5f);

        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void ParseInput_RawEmail_ShowsSenderSubjectAndHtmlSourceAndLabelsTheModelsText()
    {
        var email = "From: Eve <eve@example.com>\r\nSubject: Prize\r\nMessage-ID: <m1@example.com>\r\nContent-Type: text/html\r\n\r\n<p>You <b>won</b></p>\r\n"u8.ToArray();

        var view = SpamFeed.ParseInput("key-1", email, 1 << 20);

        Assert.NotNull(view);
        Assert.Equal("m1@example.com", view.Id);
        Assert.Equal("Prize", view.Subject);
        Assert.Equal("\"Eve\" <eve@example.com>", view.From);
        Assert.Contains("<b>won</b>", view.Body, StringComparison.Ordinal);
        Assert.StartsWith("Prize\n", view.ModelText, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", view.ModelText, StringComparison.Ordinal);
    }

    private static void Add(SpamQueue queue, string id, float score)
    {
        queue.AddInput(new MessageView(id, null, null, "body " + id, "body " + id));
        queue.AddOutput(new SpamLabel(id, score >= 0.5f ? LabelSets.Spam : LabelSets.Ham, score, new ModelRef("spam", "v1")));
    }
}
