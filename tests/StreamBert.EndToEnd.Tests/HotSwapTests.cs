using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Inference;
using StreamBert.Processor.Preprocess;
using Xunit.Abstractions;
using StreamBert.Service.Diagnostics;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Hot swap under load: versions announced on the models topic go live while messages stream, none is lost
/// or answered twice, a corrupt version is refused and never used, and every output names the version that
/// was live when its sequence's batch started.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class HotSwapTests : IClassFixture<EmbeddedKafkaFixture>, IDisposable
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly SpamModelFixture _model;
    private readonly ITestOutputHelper _output;
    private readonly string _registry;

    public HotSwapTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _model = model;
        _output = output;
        // Each test publishes into its own copy of the trained registry.
        _registry = Path.Combine(Path.GetTempPath(), "streambert-swap-" + Guid.NewGuid().ToString("N"));
        CopyDirectory(_model.Registry, _registry);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_registry, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Processor_20000Messages_5VersionsPublishedOneCorrupt_NoLossNoErrorVersionsInSwapOrder()
    {
        var topics = TestTopics.Create(_kafka);
        var models = _kafka.NewTopic("models", 1);
        var inputs = InputCorpus.Mixed(20_000, 0, "swap");
        var registry = new ModelRegistry(_registry);
        var firstVersion = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var generations = new List<long>();
        var outcomes = new ConcurrentQueue<SwapOutcome>();

        using var log = new CapturedLog();
        using var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _registry, "swap-" + Guid.NewGuid().ToString("N"),
            new Dictionary<string, string?> { ["Topics:Models"] = models }, log);
        var service = host.Services.GetRequiredService<ProcessorService>();
        var metrics = host.Services.GetRequiredService<ProcessorMetrics>();
        service.BatchStarted += (generation, set, batch) =>
        {
            generations.Add(generation); // engine thread only
            var version = set.Bundles["spam"].Version;
            foreach (var work in batch.Items)
            {
                firstVersion.TryAdd(((SequenceOwner)work.State!).Document.Id, version);
            }
        };
        service.Updater!.Handled += outcomes.Enqueue;

        var feeding = Task.Run(() => PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, inputs));

        // Five versions while the backlog drains at full speed; the third has a truncated head file.
        var published = new List<string>();
        string? corrupt = null;
        foreach (var (threshold, i) in new[] { 1500, 4000, 6500, 9000, 11500 }.Select((t, i) => (t, i)))
        {
            await WaitUntil(() => metrics.Produced >= threshold, TimeSpan.FromMinutes(5));
            var version = PublishCopy(registry, "spam", "v1");
            if (i == 2)
            {
                corrupt = version;
                Truncate(Path.Combine(registry.BundleDirectory("spam", version), "spam.head"));
            }

            await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, registry.EventFor("spam", version, "trained"), CancellationToken.None);
            published.Add(version);
            _output.WriteLine($"published {version} at {metrics.Produced} outputs");
        }

        await feeding;
        var outputs = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= inputs.Count, TimeSpan.FromMinutes(8));
        var dead = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesDlq, _ => true, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1));
        await WaitUntil(() => outcomes.Count >= published.Count, TimeSpan.FromMinutes(1));
        await host.StopAsync();

        var labels = outputs.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!).ToList();
        var counts = labels.GroupBy(l => l.Id).ToDictionary(g => g.Key, g => g.Count());
        _output.WriteLine($"outputs {labels.Count}, distinct {counts.Count}, dead letters {dead.Count}; versions: "
            + string.Join(", ", labels.GroupBy(l => l.Model.Version).OrderBy(g => g.Key).Select(g => $"{g.Key}={g.Count()}")));
        foreach (var outcome in outcomes)
        {
            _output.WriteLine($"{outcome.Result} {outcome.Version}: {outcome.Reason}");
        }

        // Exactly one output per input, and no error output. Only a rebalance (a session lost to a starved heartbeat)
        // could repeat inputs here; the log then says so.
        Assert.True(inputs.Count == labels.Count, $"{labels.Count} outputs for {inputs.Count} inputs; the processor's log:{Environment.NewLine}{log.Tail(40)}");
        Assert.Equal(inputs.Select(i => i.ExpectedId!).Order(), counts.Keys.Order());
        Assert.Empty(dead);

        // The corrupt version was refused and never produced a label; the others went live in order.
        Assert.Equal([.. published.Where(v => v != corrupt)], outcomes.Where(o => o.Result == SwapResult.Swapped).Select(o => o.Version).ToList());
        var refused = Assert.Single(outcomes, o => o.Result == SwapResult.Refused);
        Assert.Equal(corrupt, refused.Version);
        Assert.Contains("sha256", refused.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(labels, l => l.Model.Version == corrupt);

        // Each output names the version that was live when its first sequence's batch started, and batches
        // started on generations in swap order: nothing ran on version N once N+1 was live.
        Assert.All(labels, l => Assert.Equal(firstVersion[l.Id], l.Model.Version));
        Assert.True(generations.Zip(generations.Skip(1)).All(p => p.First <= p.Second), "batch generations went backwards");
        Assert.Equal(published.Count, generations[^1]); // v1 + four swaps = generation 5
        Assert.True(labels.Select(l => l.Model.Version).Distinct().Count() >= 3, "swaps did not land while messages streamed");
    }

    [Fact]
    public async Task TwoProcessorsInOneGroup_BothSwapWithin5sOfTheEvent()
    {
        var topics = TestTopics.Create(_kafka, partitions: 4);
        var models = _kafka.NewTopic("models", 1);
        var group = "pair-" + Guid.NewGuid().ToString("N");
        var extra = new Dictionary<string, string?> { ["Topics:Models"] = models };
        using var first = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _registry, group, extra);
        using var second = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _registry, group, extra);
        var swappedAt = new ConcurrentDictionary<int, long>();
        foreach (var (host, index) in new[] { first, second }.Select((h, i) => (h, i)))
        {
            host.Services.GetRequiredService<ProcessorService>().Updater!.Handled += o =>
            {
                if (o.Result == SwapResult.Swapped)
                {
                    swappedAt[index] = Stopwatch.GetTimestamp();
                }
            };
        }

        var inputs = InputCorpus.Mixed(3000, 0, "pair");
        var feeding = Task.Run(() => PipelineHarness.ProducePaced(_kafka.BootstrapServers, topics.Messages, inputs, TimeSpan.FromSeconds(20)));
        var firstMetrics = first.Services.GetRequiredService<ProcessorMetrics>();
        var secondMetrics = second.Services.GetRequiredService<ProcessorMetrics>();
        await WaitUntil(() => firstMetrics.Produced > 100 && secondMetrics.Produced > 100, TimeSpan.FromMinutes(2));

        var registry = new ModelRegistry(_registry);
        var version = PublishCopy(registry, "spam", "v1");
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, registry.EventFor("spam", version, "trained"), CancellationToken.None);
        var acknowledged = Stopwatch.GetTimestamp();
        await WaitUntil(() => swappedAt.Count == 2, TimeSpan.FromSeconds(30));

        Assert.Equal(inputs.Count, await feeding);
        var outputs = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Select(o => o.Message.Key).Distinct().Count() >= inputs.Count, TimeSpan.FromMinutes(4));
        await Task.WhenAll(first.StopAsync(), second.StopAsync());

        foreach (var (index, at) in swappedAt)
        {
            var delay = Stopwatch.GetElapsedTime(acknowledged, at);
            _output.WriteLine($"processor {index}: {version} live {delay.TotalMilliseconds:F0} ms after the event was acknowledged");
            Assert.True(delay < TimeSpan.FromSeconds(5), $"processor {index} swapped after {delay}");
        }

        Assert.Equal(version, first.Services.GetRequiredService<ProcessorService>().Models?.Bundles["spam"].Version ?? version);
        Assert.Equal(inputs.Select(i => i.ExpectedId!).Order(), outputs.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!.Id).Distinct().Order());
        var late = outputs.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!).Where(l => l.Model.Version == version).ToList();
        Assert.NotEmpty(late);
        Assert.True(firstMetrics.Consumed > 0 && secondMetrics.Consumed > 0, "the group did not split the partitions");
    }

    [Fact]
    public async Task Processor_HostileModelEvents_EachRefusedWithAReasonWhileServingThenGoodEventsSwap()
    {
        var topics = TestTopics.Create(_kafka, partitions: 1);
        var models = _kafka.NewTopic("models", 1);
        var registry = new ModelRegistry(_registry);
        var outcomes = new ConcurrentQueue<SwapOutcome>();
        using var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _registry, "hostile-" + Guid.NewGuid().ToString("N"),
            new Dictionary<string, string?> { ["Topics:Models"] = models });
        var service = host.Services.GetRequiredService<ProcessorService>();
        var metrics = host.Services.GetRequiredService<ProcessorMetrics>();
        service.Updater!.Handled += outcomes.Enqueue;
        await WaitUntil(() => service.Updater.State == FollowerState.Following, TimeSpan.FromMinutes(1));

        // A self-consistent bundle outside the registry, announced by path; a registry version whose manifest loads its
        // head from another version's folder; then a good version, a replay of the old one, and another good one.
        var outside = Path.Combine(_registry + "-outside", "spam", "v9");
        CopyDirectory(registry.BundleDirectory("spam", "v1"), outside);
        var good = PublishCopy(registry, "spam", "v1");
        var escaping = PublishCopy(registry, "spam", "v1");
        var escapingDir = registry.BundleDirectory("spam", escaping);
        var manifestPath = Path.Combine(escapingDir, ModelRegistry.ManifestFile);
        var manifest = JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(manifestPath))!;
        File.WriteAllText(manifestPath, JsonSerializer.Serialize(
            manifest with { Heads = manifest.Heads.ToDictionary(h => h.Key, h => h.Value with { File = "../v1/" + h.Value.File }) }, ModelRegistry.Json));
        var later = PublishCopy(registry, "spam", "v1");
        var v1Event = registry.EventFor("spam", "v1", "trained");

        var hostile = new (string Expect, byte[] Value)[]
        {
            (SwapRefusal.Malformed, "{\"name\":\"spam\",\"version\":"u8.ToArray()),
            (SwapRefusal.Malformed, JsonSerializer.SerializeToUtf8Bytes(v1Event with { Version = null! })),
            (SwapRefusal.Malformed, JsonSerializer.SerializeToUtf8Bytes(v1Event with { Sha256 = null! })),
            (SwapRefusal.Missing, JsonSerializer.SerializeToUtf8Bytes(v1Event with { Version = "v9", Path = outside })),
            (SwapRefusal.Path, JsonSerializer.SerializeToUtf8Bytes(v1Event with { Version = escaping, Sha256 = manifest.Files, Path = escapingDir })),
        };
        var inputs = InputCorpus.Mixed(300, 0, "hostile");
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, inputs.Take(150));
        using (var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build())
        {
            foreach (var (_, value) in hostile)
            {
                await producer.ProduceAsync(models, new Message<string, byte[]> { Key = "spam", Value = value });
            }
        }

        await WaitUntil(() => outcomes.Count >= hostile.Length, TimeSpan.FromMinutes(1));
        Assert.Equal(hostile.Select(h => h.Expect), outcomes.Select(o => o.Refusal));
        Assert.Equal("v1", service.Models!.Bundles["spam"].Version);

        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, registry.EventFor("spam", good, "trained"), CancellationToken.None);
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, v1Event, CancellationToken.None);
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, registry.EventFor("spam", later, "trained"), CancellationToken.None);
        PipelineHarness.Produce(_kafka.BootstrapServers, topics.Messages, inputs.Skip(150));
        await WaitUntil(() => outcomes.Count >= hostile.Length + 3, TimeSpan.FromMinutes(1));
        var outputs = PipelineHarness.ReadAll(_kafka.BootstrapServers, topics.MessagesSpam, r => r.Count >= inputs.Count, TimeSpan.FromMinutes(3));

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.Services.GetRequiredService<ObservabilityServer>().Port}") };
        var scrape = await http.GetStringAsync("/metrics");
        var ready = await http.GetAsync("/readyz");
        await host.StopAsync();
        Directory.Delete(_registry + "-outside", recursive: true);
        foreach (var outcome in outcomes)
        {
            _output.WriteLine($"{outcome.Result} {outcome.Refusal} {outcome.Version}: {outcome.Reason}");
        }

        var after = outcomes.Skip(hostile.Length).ToList();
        Assert.Equal([(SwapResult.Swapped, good), (SwapResult.Refused, "v1"), (SwapResult.Swapped, later)], after.Select(o => (o.Result, o.Version)));
        Assert.Equal(SwapRefusal.Downgrade, after[1].Refusal);
        Assert.Equal(later, service.Models?.Bundles["spam"].Version ?? later);
        Assert.Equal((3L, 1L, 1L, 1L), (metrics.RefusedSwaps(SwapRefusal.Malformed), metrics.RefusedSwaps(SwapRefusal.Missing), metrics.RefusedSwaps(SwapRefusal.Path), metrics.RefusedSwaps(SwapRefusal.Downgrade)));
        Assert.Matches("streambert_model_swaps_refused_total\\{[^}]*reason=\"malformed\"[^}]*\\} 3", scrape);
        Assert.Matches("streambert_model_swaps_refused_total\\{[^}]*bundle=\"spam\"[^}]*reason=\"downgrade\"[^}]*\\} 1", scrape);
        Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);

        // Every input labelled once, by a version that was allowed to serve.
        var labels = outputs.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!).ToList();
        Assert.Equal(inputs.Select(i => i.ExpectedId!).Order(), labels.Select(l => l.Id).Distinct().Order());
        Assert.All(labels, l => Assert.Contains(l.Model.Version, new[] { "v1", good, later }));
    }

    [Fact]
    public async Task Processor_TopicsLatestEventOlderThanCurrent_CatchUpServesTheTopicsVersion()
    {
        // CURRENT ran ahead of the topic (v2 marked current, its event never sent): on start the topic's v1 wins, the
        // downgrade rule notwithstanding, because it is the record every other replica follows.
        var topics = TestTopics.Create(_kafka, partitions: 1);
        var models = _kafka.NewTopic("models", 1);
        var registry = new ModelRegistry(_registry);
        await ModelEvents.PublishAsync(_kafka.ProducerConfig(), models, registry.EventFor("spam", "v1", "trained"), CancellationToken.None);
        Assert.Equal("v2", PublishCopy(registry, "spam", "v1"));
        Assert.Equal("v2", registry.CurrentVersion("spam"));

        using var host = PipelineHarness.StartProcessor(topics, _kafka.BootstrapServers, _registry, "catch-up-" + Guid.NewGuid().ToString("N"),
            new Dictionary<string, string?> { ["Topics:Models"] = models });
        var service = host.Services.GetRequiredService<ProcessorService>();
        await WaitUntil(() => service.Updater!.State == FollowerState.Following, TimeSpan.FromMinutes(1));
        var served = service.Models!.Bundles["spam"].Version;
        await host.StopAsync();

        Assert.Equal("v1", served);
    }

    /// <summary>A new version with the files of <paramref name="from"/> (a retrain that changed nothing is still a version).</summary>
    internal static string PublishCopy(ModelRegistry registry, string bundle, string from)
    {
        var source = registry.BundleDirectory(bundle, from);
        var manifest = ModelRegistry.ReadManifest(source);
        return registry.Publish(
            bundle,
            dir =>
            {
                foreach (var file in manifest.Files.Keys)
                {
                    File.Copy(Path.Combine(source, file), Path.Combine(dir, file));
                }
            },
            (version, files) => manifest with { Version = version, ParentVersion = from, Files = files, CreatedAt = DateTimeOffset.UtcNow }).Version;
    }

    private static void Truncate(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.SetLength(stream.Length / 2);
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Condition not met within {timeout}.");
            }

            await Task.Delay(20);
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(dir.Replace(from, to, StringComparison.Ordinal));
        }

        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, file.Replace(from, to, StringComparison.Ordinal));
        }
    }
}
