using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Inference;
using StreamBert.Review;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// The reviewer's desk's models page against a running processor: a rollback and a promote confirmed on the page go out
/// on the models topic, and the processor swaps to each (its served version and its outputs' model version).
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed partial class ModelsDeskTests : IClassFixture<EmbeddedKafkaFixture>, IDisposable
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

    [Fact]
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
            logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        await desk.StartAsync();
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var http = new HttpClient(handler) { BaseAddress = desk.Address() };

        await ChangeAsync(http, ("action", "rollback"), ("bundle", "spam"));
        Assert.Equal("v1", registry.CurrentVersion("spam"));
        await WaitUntil(() => service.Models!.Bundles["spam"].Version == "v1", TimeSpan.FromSeconds(30));
        var afterRollback = InputCorpus.Mixed(40, 0, "desk-rollback");
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, afterRollback);
        var first = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= afterRollback.Count, TimeSpan.FromMinutes(2));

        await ChangeAsync(http, ("action", "promote"), ("bundle", "spam"), ("version", v2));
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

    /// <summary>What a reviewer's two clicks send: the models page's change form, then the confirmation page's form with a name.</summary>
    private static async Task ChangeAsync(HttpClient http, params (string Key, string Value)[] change)
    {
        var page = await http.GetStringAsync("/models");
        using var confirm = Form(Antiforgery(page), change);
        using var confirmation = await http.PostAsync("/models/confirm", confirm);
        Assert.Equal(HttpStatusCode.OK, confirmation.StatusCode);
        var html = await confirmation.Content.ReadAsStringAsync();
        var fields = HiddenField().Matches(html).Select(m => (m.Groups["name"].Value, WebUtility.HtmlDecode(m.Groups["value"].Value))).ToList();
        using var apply = new FormUrlEncodedContent(fields.Append(("reviewer", "Ada Reviewer")).Select(f => KeyValuePair.Create(f.Item1, f.Item2)));
        using var applied = await http.PostAsync("/models/apply", apply);
        Assert.Equal(HttpStatusCode.Redirect, applied.StatusCode);
    }

    private static (string, string) Antiforgery(string html)
    {
        var match = HiddenField().Matches(html).First(m => m.Groups["name"].Value == "__RequestVerificationToken");
        return (match.Groups["name"].Value, WebUtility.HtmlDecode(match.Groups["value"].Value));
    }

    private static FormUrlEncodedContent Form((string, string) antiforgery, (string Key, string Value)[] fields) =>
        new(fields.Prepend(antiforgery).Select(f => KeyValuePair.Create(f.Item1, f.Item2)));

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < timeout, $"condition not met within {timeout}");
            await Task.Delay(50);
        }
    }

    [GeneratedRegex("""<input type="hidden" name="(?<name>[^"]+)" value="(?<value>[^"]*)">""")]
    private static partial Regex HiddenField();
}
