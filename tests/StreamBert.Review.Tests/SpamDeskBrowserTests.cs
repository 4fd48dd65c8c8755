using System.Text;
using OpenQA.Selenium;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;

namespace StreamBert.Review.Tests;

/// <summary>A reviewer at the spam queue in real headless Chromium, against the embedded Kafka cluster.</summary>
public sealed class SpamDeskBrowserTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    [BrowserFact]
    public async Task Flip_UncertainSpamVerdict_WritesHamLabelWithReviewerAndModelVersion()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var uncertain = $"msg-{Guid.NewGuid():N}";
        var sure = $"msg-{Guid.NewGuid():N}";
        await desk.ProduceAsync(new MessageInput(sure, "Cheap pills, click now", "WIN BIG", "promo@spam.example"), new SpamLabel(sure, LabelSets.Spam, 0.99f, new ModelRef("spam", "v3")));
        await desk.ProduceAsync(new MessageInput(uncertain, "The meeting moved to 3pm, room 2.", "Meeting moved", "alice@example.com"), new SpamLabel(uncertain, LabelSets.Spam, 0.58f, new ModelRef("spam", "v3")));
        await desk.QueuedAsync(sure);
        await desk.QueuedAsync(uncertain);

        using var browser = Browser.Start();
        browser.Driver.Navigate().GoToUrl(new Uri(desk.Address, "/spam"));
        var items = browser.Driver.FindElements(By.CssSelector("article.item"));
        Assert.Equal([uncertain, sure], items.Select(i => i.GetAttribute("data-id")));
        var item = items[0];
        Assert.Equal("Meeting moved", item.FindElement(By.CssSelector(".subject")).Text);
        Assert.Equal("alice@example.com", item.FindElement(By.CssSelector(".from")).Text);
        Assert.Equal("0.580", item.FindElement(By.CssSelector(".score")).Text);
        Assert.Equal("spam v3", item.FindElement(By.CssSelector(".model")).Text);
        browser.Driver.FindElement(By.Id("reviewer")).SendKeys("Ada Reviewer");
        browser.Screenshot("spam-queue.png");

        item.FindElement(By.CssSelector("button.flip")).Click();
        browser.Wait(TimeSpan.FromSeconds(15)).Until(d => d.FindElements(By.CssSelector($"article[data-id='{uncertain}']")).Count == 0);
        browser.Screenshot("spam-after-flip.png");

        var label = Assert.Single(desk.ReadLabels(1, TimeSpan.FromSeconds(15)));
        Assert.Equal(uncertain, label.Message.Key);
        Assert.Equal("""{"text":"Meeting moved\nThe meeting moved to 3pm, room 2.","label":"ham"}""", Encoding.UTF8.GetString(label.Message.Value));
        Assert.Equal("Ada Reviewer", Encoding.UTF8.GetString(label.Message.Headers.GetLastBytes(LabelHeaders.Reviewer)));
        Assert.Equal("v3", Encoding.UTF8.GetString(label.Message.Headers.GetLastBytes(LabelHeaders.ModelVersion)));
        Assert.Null(desk.Queue.Find(uncertain));
        Assert.NotNull(desk.Queue.Find(sure));

        // The keyboard shortcut: c confirms the current (first) message, the same post as its button.
        new Actions(browser.Driver).SendKeys("c").Perform();
        browser.Wait(TimeSpan.FromSeconds(15)).Until(d => d.FindElements(By.Id("empty")).Count == 1);
        var confirmed = desk.ReadLabels(2, TimeSpan.FromSeconds(15));
        Assert.Equal([uncertain, sure], confirmed.Select(l => l.Message.Key));
        Assert.Equal("""{"text":"WIN BIG\nCheap pills, click now","label":"spam"}""", Encoding.UTF8.GetString(confirmed[1].Message.Value));
        Assert.Null(desk.Queue.Find(sure));
    }

    [BrowserFact]
    public async Task EmailBody_WithScriptAndOnerrorMarkup_IsShownAsTextAndNothingRuns()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var id = $"msg-{Guid.NewGuid():N}";
        const string Body = """<p>Hello</p><script>window.__xss = 1; document.title = 'pwned';</script><img src=x onerror="window.__xss = 2; document.title = 'pwned'">""";
        await desk.ProduceAsync(new MessageInput(id, Body, "<b>Invoice</b>", "\"<script>x</script>\" <evil@example.com>"), new SpamLabel(id, LabelSets.Ham, 0.41f, new ModelRef("spam", "v1")));
        await desk.QueuedAsync(id);

        using var browser = Browser.Start();
        browser.Driver.Navigate().GoToUrl(new Uri(desk.Address, "/spam"));
        var item = browser.Driver.FindElement(By.CssSelector($"article[data-id='{id}']"));
        browser.Screenshot("spam-hostile-body.png");

        Assert.Equal(Body, item.FindElement(By.CssSelector("pre.body")).Text);
        Assert.Equal("<b>Invoice</b>", item.FindElement(By.CssSelector(".subject")).Text);
        Assert.Empty(item.FindElements(By.TagName("img")));
        Assert.Empty(item.FindElements(By.TagName("script")));
        Assert.Empty(item.FindElements(By.TagName("b")));
        Assert.Equal("undefined", browser.Driver.ExecuteScript("return typeof window.__xss;"));
        Assert.Equal("StreamBert review — spam", browser.Driver.Title);
    }
}
