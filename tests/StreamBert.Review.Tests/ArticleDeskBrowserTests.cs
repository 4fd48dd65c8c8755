using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using OpenQA.Selenium;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;
using StreamBert.Trainer;

namespace StreamBert.Review.Tests;

/// <summary>A reviewer at the articles page in real headless Chromium, against the embedded Kafka cluster.</summary>
public sealed class ArticleDeskBrowserTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    // Surrogate pairs and non-ASCII letters before the spans: UTF-16 offsets, code points and UTF-8 bytes all differ.
    private const string Body = "Intro 😀 line. Zoë Müller met 😀 Angela Merkel in Łódź. Rates fell to 3% in Paris.";
    private const string Second = "Zoë Müller met 😀 Angela Merkel in Łódź.";
    private const string Third = "Rates fell to 3% in Paris.";

    [BrowserFact]
    public async Task Reviewer_MarksClaimRetypesDeletesAndSelectsAnEntity_WritesExactLabelRecords()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var id = $"art-{Guid.NewGuid():N}";
        var sure = $"art-{Guid.NewGuid():N}";
        var article = new Articles(id, Body, "Rates & <names>")
            .Sentence("Intro 😀 line.", 0.1f).Sentence(Second, 0.62f).Sentence(Third, 0.45f)
            .Entity("Zoë Müller", "PER", 0.8f).Entity("Łódź", "ORG", 0.35f).Entity("Paris", "LOC", 0.6f);
        await desk.ProduceAsync(new Articles(sure, "Berlin is a city.", "Berlin").Sentence("Berlin is a city.", 0.95f).Entity("Berlin", "LOC", 0.97f));
        await desk.ProduceAsync(article);
        await desk.ArticleQueuedAsync(sure);
        await desk.ArticleQueuedAsync(id);

        using var browser = Browser.Start();
        var driver = browser.Driver;
        driver.Navigate().GoToUrl(new Uri(desk.Address, "/articles"));
        Assert.Equal([id, sure], driver.FindElements(By.CssSelector("ol.queue li")).Select(li => li.GetAttribute("data-id")));
        Assert.Equal(["Spam", "Articles", "Models"], driver.FindElements(By.CssSelector("nav a")).Select(a => a.Text));
        Assert.Equal("/models", new Uri(driver.FindElement(By.LinkText("Models")).GetAttribute("href")!).AbsolutePath);
        Assert.Equal(Body, driver.ExecuteScript("return document.getElementById('article-body').textContent;"));
        Assert.Equal(["Zoë Müller", "Łódź", "Paris"], driver.FindElements(By.CssSelector("#article-body mark.entity")).Select(m => m.Text));
        Assert.Equal(Second, driver.FindElement(By.CssSelector("#article-body span.sentence.claim")).Text);
        Assert.Equal("Rates & <names>", driver.FindElement(By.CssSelector("h2.title")).Text);
        driver.FindElement(By.Id("reviewer")).SendKeys("Ada Reviewer");
        browser.Screenshot("articles.png");

        var wait = browser.Wait(TimeSpan.FromSeconds(15));
        var (third, lodz, paris) = (article.Offset(Third), article.Offset("Łódź"), article.Offset("Paris"));
        Row(driver, "sentence-row", third).FindElement(By.CssSelector("button.claim")).Click();
        wait.Until(d => Row(d, "sentence-row", third).FindElements(By.CssSelector(".reviewed-label")).Count == 1);

        var lodzRow = Row(driver, "entity-row", lodz);
        lodzRow.FindElement(By.XPath(".//option[text()='LOC']")).Click();
        lodzRow.FindElement(By.CssSelector("button.retype")).Click();
        wait.Until(d => Row(d, "entity-row", lodz).FindElement(By.CssSelector(".type")).Text == "LOC");

        Row(driver, "entity-row", paris).FindElement(By.CssSelector("button.delete")).Click();
        wait.Until(d => d.FindElements(By.CssSelector($"tr.entity-row[data-start='{paris}']")).Count == 0);

        // The reviewer's selection: found in the page's own text nodes, independent of the offsets the page computes.
        driver.ExecuteScript("""
            var walker = document.createTreeWalker(document.getElementById('article-body'), NodeFilter.SHOW_TEXT);
            for (var node = walker.nextNode(); node; node = walker.nextNode()) {
              var at = node.data.indexOf('Angela Merkel');
              if (at >= 0) {
                var range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + 'Angela Merkel'.length);
                document.getSelection().removeAllRanges();
                document.getSelection().addRange(range);
              }
            }
            """);
        wait.Until(d => d.FindElement(By.Id("add-entity-button")).Enabled);
        Assert.Equal("Angela Merkel", driver.FindElement(By.Id("selection-text")).Text);
        driver.FindElement(By.Id("add-entity-button")).Click();
        var angela = article.Offset("Angela Merkel");
        wait.Until(d => d.FindElements(By.CssSelector($"tr.entity-row[data-start='{angela}']")).Count == 1);
        Assert.Equal(["Zoë Müller", "Angela Merkel", "Łódź"], driver.FindElements(By.CssSelector("#article-body mark.entity")).Select(m => m.Text));
        browser.Screenshot("articles-after-review.png");

        var claim = Assert.Single(desk.ReadLabels(desk.ArticleTopic.LabelsClaims, 1, TimeSpan.FromSeconds(15)));
        Assert.Equal($"{id}#{third}-{third + Third.Length}", claim.Message.Key);
        Assert.Equal(new TextLabel(Third, LabelSets.Claim), JsonSerializer.Deserialize<TextLabel>(claim.Message.Value));
        AssertHeaders(claim, "v4");
        Assert.Null(LabelParser.Parse(TaskNames.Claims, claim.Message.Value, 1 << 20).Error);

        var entities = desk.ReadLabels(desk.ArticleTopic.LabelsEntities, 3, TimeSpan.FromSeconds(15));
        var second = article.Offset(Second);
        Assert.Equal([$"{id}#{second}-{second + Second.Length}", $"{id}#{third}-{third + Third.Length}", $"{id}#{second}-{second + Second.Length}"], entities.Select(e => e.Message.Key));
        var records = entities.Select(e => JsonSerializer.Deserialize<EntitiesLabel>(e.Message.Value)!).ToList();
        Assert.Equal([Second, Third, Second], records.Select(r => r.Text));
        Assert.Equal([new EntityLabel(0, 10, "PER"), new EntityLabel(35, 39, "LOC")], records[0].Entities);
        Assert.Empty(records[1].Entities);
        Assert.Equal([new EntityLabel(0, 10, "PER"), new EntityLabel(18, 31, "PER"), new EntityLabel(35, 39, "LOC")], records[2].Entities);
        Assert.Equal("Angela Merkel", Second[18..31]);
        foreach (var record in entities)
        {
            AssertHeaders(record, "v2");
            Assert.Null(LabelParser.Parse(TaskNames.Ner, record.Message.Value, 1 << 20).Error);
        }
    }

    [BrowserFact]
    public async Task Reviewer_ConfirmsEntitiesAndLabelsClaimsByKeyboard_WritesExactRecordsAndTheArticleLeavesTheQueue()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var id = $"art-{Guid.NewGuid():N}";
        const string First = "Zoë met 😀 Bo in Łódź.";
        const string Rest = "Rain fell.";
        var article = new Articles(id, "😀 " + First + " " + Rest, "Confirm")
            .Sentence(First, 0.6f).Sentence(Rest, 0.2f).Entity("Zoë", "PER", 0.8f).Entity("Łódź", "LOC", 0.4f);
        await desk.ProduceAsync(article);
        await desk.ArticleQueuedAsync(id);
        var (first, rest) = (article.Offset(First), article.Offset(Rest));

        using var browser = Browser.Start();
        var driver = browser.Driver;
        driver.Navigate().GoToUrl(new Uri(desk.Address, "/articles"));
        driver.FindElement(By.Id("reviewer")).SendKeys("Ada Reviewer");
        var confirm = Row(driver, "sentence-row", first).FindElement(By.CssSelector("button.confirm-entities"));
        Assert.Equal("Confirm entities (2)", confirm.Text);
        confirm.Click();
        var wait = browser.Wait(TimeSpan.FromSeconds(15));
        wait.Until(d => Row(d, "sentence-row", first).GetAttribute("class")!.Contains("entities-reviewed", StringComparison.Ordinal));
        Assert.Equal(["Zoë", "Łódź"], driver.FindElements(By.CssSelector("tr.entity-row .text")).Select(e => e.Text));

        // The keyboard: c labels the current sentence (the first not done), then k / j move and n labels the other one.
        Assert.Contains("current", Row(driver, "sentence-row", first).GetAttribute("class"), StringComparison.Ordinal);
        new Actions(driver).SendKeys("c").Perform();
        wait.Until(d => Row(d, "sentence-row", first).FindElements(By.CssSelector(".reviewed-label")).Count == 1);
        Assert.Contains("current", Row(driver, "sentence-row", rest).GetAttribute("class"), StringComparison.Ordinal);
        new Actions(driver).SendKeys("k").SendKeys("j").SendKeys("n").Perform();
        wait.Until(d => d.FindElements(By.Id("empty")).Count == 1);
        Assert.Null(desk.ArticleQueue.Find(id));

        var entities = Assert.Single(desk.ReadLabels(desk.ArticleTopic.LabelsEntities, 1, TimeSpan.FromSeconds(15)));
        Assert.Equal($"{id}#{first}-{first + First.Length}", entities.Message.Key);
        var record = JsonSerializer.Deserialize<EntitiesLabel>(entities.Message.Value)!;
        Assert.Equal(First, record.Text);
        Assert.Equal([new EntityLabel(0, 3, "PER"), new EntityLabel(17, 21, "LOC")], record.Entities);
        Assert.Equal(("Zoë", "Łódź"), (First[0..3], First[17..21]));
        AssertHeaders(entities, "v2");
        Assert.Null(LabelParser.Parse(TaskNames.Ner, entities.Message.Value, 1 << 20).Error);

        var claims = desk.ReadLabels(desk.ArticleTopic.LabelsClaims, 2, TimeSpan.FromSeconds(15));
        Assert.Equal([$"{id}#{first}-{first + First.Length}", $"{id}#{rest}-{rest + Rest.Length}"], claims.Select(c => c.Message.Key));
        Assert.Equal([new TextLabel(First, LabelSets.Claim), new TextLabel(Rest, LabelSets.NoClaim)], claims.Select(c => JsonSerializer.Deserialize<TextLabel>(c.Message.Value)));
        Assert.All(claims, c => AssertHeaders(c, "v4"));
    }

    [BrowserFact]
    public async Task Article_WithScriptAndOnerrorMarkup_IsShownAsTextAndNothingRuns()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var id = $"art-{Guid.NewGuid():N}";
        const string Hostile = """<p>Hi</p><script>window.__xss = 1; document.title = 'pwned';</script> <img src=x onerror="window.__xss = 2; document.title = 'pwned'"> said Eve.""";
        var article = new Articles(id, Hostile, "<b>Breaking</b><script>window.__xss = 3</script>")
            .Sentence(Hostile, 0.5f).Entity("<img src=x", "MISC", 0.2f).Entity("Eve", "PER", 0.9f);
        await desk.ProduceAsync(article);
        await desk.ArticleQueuedAsync(id);

        using var browser = Browser.Start();
        browser.Driver.Navigate().GoToUrl(new Uri(desk.Address, "/articles"));
        var item = browser.Driver.FindElement(By.CssSelector($"article[data-id='{id}']"));
        browser.Screenshot("articles-hostile.png");

        Assert.Equal(Hostile, browser.Driver.ExecuteScript("return document.getElementById('article-body').textContent;"));
        Assert.Equal("<b>Breaking</b><script>window.__xss = 3</script>", item.FindElement(By.CssSelector("h2.title")).Text);
        Assert.Equal(["<img src=x", "Eve"], item.FindElements(By.CssSelector("#article-body mark.entity")).Select(m => m.Text));
        Assert.Empty(item.FindElements(By.TagName("img")));
        Assert.Empty(item.FindElements(By.TagName("script")));
        Assert.Empty(item.FindElements(By.TagName("b")));
        Assert.Empty(item.FindElements(By.TagName("p")));
        Assert.Equal("undefined", browser.Driver.ExecuteScript("return typeof window.__xss;"));
        Assert.Equal("StreamBert review — articles", browser.Driver.Title);
    }

    private static IWebElement Row(ISearchContext page, string kind, int start) =>
        page.FindElement(By.CssSelector($"tr.{kind}[data-start='{start}']"));

    private static void AssertHeaders(ConsumeResult<string, byte[]> record, string modelVersion)
    {
        Assert.Equal("Ada Reviewer", Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(LabelHeaders.Reviewer)));
        Assert.Equal(modelVersion, Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(LabelHeaders.ModelVersion)));
    }
}
