using StreamBert.Cli.Demo;
using StreamBert.Contracts;
using StreamBert.Review.Spam;

namespace StreamBert.EndToEnd.Tests;

/// <summary>The demo's simulated reviewers pick what to label as a person at the desk sees it: least sure first.</summary>
public sealed class DemoReviewersTests
{
    [Fact]
    public void Choose_DeskQueue_LeastSureFirstWithinBudget_SkippingTooFreshAndUnknown()
    {
        var queue = new SpamQueue(capacity: 10, threshold: 0.5);
        var now = TimeSpan.FromMinutes(1);
        var known = new Dictionary<string, (string Label, TimeSpan FedAt)>(StringComparer.Ordinal);
        foreach (var (id, score, fedAgo) in new[] { ("sure-spam", 0.97f, 10), ("fresh-coin-toss", 0.51f, 1), ("sure-ham", 0.03f, 10), ("leaning-ham", 0.45f, 10), ("leaning-spam", 0.62f, 10) })
        {
            queue.AddInput(new MessageView(id, null, null, "text " + id, "text " + id));
            queue.AddOutput(new SpamLabel(id, score >= 0.5f ? LabelSets.Spam : LabelSets.Ham, score, new ModelRef("spam", "v1")));
            known[id] = (LabelSets.Ham, now - TimeSpan.FromSeconds(fedAgo));
        }

        queue.AddInput(new MessageView("unknown", null, null, "x", "x"));
        queue.AddOutput(new SpamLabel("unknown", LabelSets.Spam, 0.5f, new ModelRef("spam", "v1")));

        var chosen = SpamStream.Choose(queue.Take(QueueMode.Uncertain, queue.Count), budget: 2, known, now);

        Assert.Equal(["leaning-ham", "leaning-spam"], chosen.Select(c => c.Item.Id));
        Assert.All(chosen, c => Assert.Equal(LabelSets.Ham, c.Label));
    }
}
