using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenQA.Selenium;
using OpenQA.Selenium.Support.UI;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Inference;
using StreamBert.Review;
using StreamBert.Review.Tests;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// The reviewer's desk's models page against a running processor, clicked in headless Chromium: a rollback and a promote
/// confirmed on the page go out on the models topic, and the processor swaps to each (its served version and its outputs' model version).
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class ModelsDeskTests : IClassFixture<EmbeddedKafkaFixture>, IDisposable
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly ITestOutputHelper _output;
    private readonly string _registry;

    public ModelsDeskTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _output = output;
        _registry = Path.Combine(Path.GetTempPath(), "streambert-desk-models-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.GetFiles(model.Registry, "*", SearchOption.AllDirectories))
        {
            var target = file.Replace(model.Registry, _registry, StringComparison.Ordinal);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_registry))
        {
            Directory.Delete(_registry, recursive: true);
        }
    }

    [BrowserFact]
    public async Task RollbackThenPromote_ConfirmedOnTheDesk_RunningProcessorSwapsToEach()
    {
        var registry = new ModelRegistry(_registry);
        var v2 = HotSwapTests.PublishCopy(registry, "spam", "v1");
        Assert.Equal("v2", registry.CurrentVersion("spam"));
        var topics = TestTopics.Create(_kafka, partitions: 1);
        var models = _kafka.NewTopic("models", 1);
        using var processor = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _registry, "desk-" + Guid.NewGuid().ToString("N"),
            new Dictionary<string, string?> { ["Topics:Models"] = models });
        var service = processor.Services.GetRequiredService<ProcessorService>();
        await WaitUntil(() => service.Updater?.State == FollowerState.Following, TimeSpan.FromMinutes(1));
        Assert.Equal(v2, service.Models!.Bundles["spam"].Version);

        await using var desk = ReviewApp.Build(
            new Dictionary<string, string?>
            {
                ["Review:BootstrapServers"] = _kafka.BootstrapServers,
                ["Review:GroupId"] = EmbeddedKafkaFixture.NewGroupId("review"),
                ["Review:Urls"] = "http://127.0.0.1:0",
                ["Review:Registry"] = _registry,
                ["Topics:Messages"] = topics.Messages,
                ["Topics:MessagesSpam"] = topics.MessagesSpam,
                ["Topics:LabelsSpam"] = _kafka.NewTopic("labels-spam", 1),
                ["Topics:Models"] = models,
                ["Kafka:Consumer:session.timeout.ms"] = "3000",
                ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
            },
            logging => logging.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning).AddSimpleConsole());
        await desk.StartAsync();
        using var browser = Browser.Start();
        var page = new Uri(desk.Address(), "/models");

        ClickChange(browser, page, "section[data-bundle='spam'] button.rollback", "Roll back spam to v1?");
        Assert.Equal("v1", registry.CurrentVersion("spam"));
        await WaitUntil(() => service.Models!.Bundles["spam"].Version == "v1", TimeSpan.FromSeconds(30));
        var afterRollback = InputCorpus.Mixed(40, 0, "desk-rollback");
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, afterRollback);
        var first = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= afterRollback.Count, TimeSpan.FromMinutes(2));

        ClickChange(browser, page, $"section[data-bundle='spam'] tr[data-version='{v2}'] button.promote", $"Promote spam to {v2}?");
        Assert.Equal(v2, registry.CurrentVersion("spam"));
        await WaitUntil(() => service.Models!.Bundles["spam"].Version == v2, TimeSpan.FromSeconds(30));
        var afterPromote = InputCorpus.Mixed(40, 0, "desk-promote");
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, afterPromote);
        var all = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= afterRollback.Count + afterPromote.Count, TimeSpan.FromMinutes(2));
        await processor.StopAsync();

        var rolledBackIds = afterRollback.Select(i => i.ExpectedId).ToHashSet(StringComparer.Ordinal);
        var versions = all.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!)
            .ToLookup(l => rolledBackIds.Contains(l.Id), l => l.Model.Version);
        _output.WriteLine($"after rollback: {string.Join(",", versions[true].Distinct())}; after promote: {string.Join(",", versions[false].Distinct())}");
        Assert.Equal(afterRollback.Count, first.Count);
        Assert.All(versions[true], v => Assert.Equal("v1", v));
        Assert.All(versions[false], v => Assert.Equal(v2, v));
        var events = PipelineHarness.ReadAll(_kafka.BootstrapServers, models, r => r.Count >= 2, TimeSpan.FromSeconds(30))
            .Select(r => ModelEvents.Parse(r.Message.Value)).ToList();
        Assert.Equal([("v1", ModelPromotion.Rollback), (v2, ModelPromotion.Promote)], events.Select(e => (e.Version, e.Reason)));
    }

    /// <summary>A reviewer's two clicks in headless Chromium: the change on the models page, then the confirmation with a name.</summary>
    private static void ClickChange(Browser browser, Uri page, string button, string title)
    {
        browser.Driver.Navigate().GoToUrl(page);
        browser.Driver.FindElement(By.CssSelector(button)).Click();
        // The click posts a form; wait for the confirmation page instead of racing the navigation.
        browser.Wait(TimeSpan.FromSeconds(20)).Until(d => d.FindElements(By.Id("confirm-title")).Any(e => e.Text == title));
        var reviewer = browser.Driver.FindElement(By.Id("reviewer"));
        reviewer.Clear();
        reviewer.SendKeys("Ada Reviewer");
        browser.Driver.FindElement(By.CssSelector("button.confirm")).Click();
        browser.Wait(TimeSpan.FromSeconds(20)).Until(d => d.Url.EndsWith("/models", StringComparison.Ordinal));
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < timeout, $"condition not met within {timeout}");
            await Task.Delay(50);
        }
    }
}
