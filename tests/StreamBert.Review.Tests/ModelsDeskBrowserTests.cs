using OpenQA.Selenium;
using OpenQA.Selenium.Support.UI;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;

namespace StreamBert.Review.Tests;

/// <summary>A reviewer on the models page in real headless Chromium: rollback and promote, each confirmed on a second page.</summary>
public sealed class ModelsDeskBrowserTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    [BrowserFact]
    public async Task RollbackThenPromote_FromThePage_PublishEventsThenMoveCurrent()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.93, trainedFromLabels: true, threshold: 0.62);
        fake.Add("spam", "v3", "v2", 0.95, trainedFromLabels: true);
        fake.Registry.SetCurrent("spam", "v3");
        await using var desk = await RunningDesk.StartAsync(kafka, registry: fake.Root);
        using var browser = Browser.Start();
        var wait = browser.Wait(TimeSpan.FromSeconds(20));

        browser.Driver.Navigate().GoToUrl(new Uri(desk.Address, "/models"));
        var bundle = browser.Driver.FindElement(By.CssSelector("section[data-bundle='spam']"));
        Assert.Equal("v3", bundle.FindElement(By.CssSelector(".current")).Text);
        Assert.Equal(["v1", "v2", "v3"], bundle.FindElements(By.CssSelector("svg.f1-chart circle.point")).Select(c => c.GetAttribute("data-version")));
        Assert.Equal(["v3", "v2"], bundle.FindElements(By.CssSelector("table.runs tbody tr")).Select(r => r.GetAttribute("data-version")));
        Assert.Contains("0.930 (v2) → 0.950 (v3)", bundle.FindElement(By.CssSelector("table.runs tbody tr")).Text, StringComparison.Ordinal);

        // Rollback: the first POST only shows what would change; nothing moves until the reviewer confirms.
        bundle.FindElement(By.CssSelector("button.rollback")).Click();
        // The click posts a form and the confirmation page replaces this one: wait for it rather than race the navigation.
        wait.Until(d => d.FindElements(By.Id("confirm-title")).Any(e => e.Text == "Roll back spam to v2?"));
        Assert.Equal("v3", fake.Registry.CurrentVersion("spam"));
        browser.Driver.FindElement(By.Id("reviewer")).SendKeys("Ada Reviewer");
        browser.Driver.FindElement(By.CssSelector("button.confirm")).Click();
        wait.Until(d => d.Url.EndsWith("/models", StringComparison.Ordinal) && d.FindElement(By.CssSelector("section[data-bundle='spam'] .current")).Text == "v2");
        Assert.Equal("v2", fake.Registry.CurrentVersion("spam"));

        // Promote v3 back, from its row.
        browser.Driver.FindElement(By.CssSelector("section[data-bundle='spam'] tr[data-version='v3'] button.promote")).Click();
        wait.Until(d => d.FindElements(By.Id("confirm-title")).Any(e => e.Text == "Promote spam to v3?"));
        Assert.Equal("Ada Reviewer", browser.Driver.FindElement(By.Id("reviewer")).GetAttribute("value"));
        browser.Driver.FindElement(By.CssSelector("button.confirm")).Click();
        wait.Until(d => d.FindElement(By.CssSelector("section[data-bundle='spam'] .current")).Text == "v3");
        Assert.Equal("v3", fake.Registry.CurrentVersion("spam"));

        var events = desk.ReadModelEvents(2, TimeSpan.FromSeconds(15));
        Assert.Equal([("v2", ModelPromotion.Rollback), ("v3", ModelPromotion.Promote)], events.Select(e => (e.Version, e.Reason)));
        Assert.All(events, e => Assert.Equal("spam", e.Name));
        Assert.Equal(fake.Registry.ReadManifest("spam", "v2").Files, events[0].Sha256);

        // The page reads the topic back: both events listed, the latest one as what processors were told to serve.
        wait.Until(d =>
        {
            d.Navigate().Refresh();
            return d.FindElements(By.CssSelector("section[data-bundle='spam'] table.events tbody tr")).Count == 2;
        });
        Assert.Equal("v3", browser.Driver.FindElement(By.CssSelector("section[data-bundle='spam'] .served")).Text);
        Assert.Equal(["promote", "rollback"], browser.Driver.FindElements(By.CssSelector("section[data-bundle='spam'] table.events td.reason")).Select(e => e.Text));
        browser.Screenshot("models.png");
    }
}
