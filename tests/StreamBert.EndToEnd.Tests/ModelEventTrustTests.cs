using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Inference;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// <see cref="ModelUpdater.Apply"/> on the real spam model, with events a publisher would never send: each is refused with
/// its reason code and counted, the served version keeps serving, and a good event afterwards still swaps.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class ModelEventTrustTests : IDisposable
{
    private readonly string _registryRoot;
    private readonly string _outside;
    private readonly ModelRegistry _registry;
    private readonly ModelSlot _slot;
    private readonly ProcessorMetrics _metrics;
    private readonly ModelUpdater _updater;

    public ModelEventTrustTests(SpamModelFixture model)
    {
        _registryRoot = Path.Combine(Path.GetTempPath(), "streambert-trust-" + Guid.NewGuid().ToString("N"));
        _outside = Path.Combine(Path.GetTempPath(), "streambert-outside-" + Guid.NewGuid().ToString("N"));
        CopyDirectory(model.Registry, _registryRoot);
        _registry = new ModelRegistry(_registryRoot);
        _slot = new ModelSlot(ModelSet.Load([_registry.CurrentDirectory("spam")!]));
        _metrics = new ProcessorMetrics(() => _slot.Current.Bundles);
        _updater = new ModelUpdater(_slot, _registryRoot, new SessionSettings(), _metrics, NullLogger.Instance);
    }

    public void Dispose()
    {
        _slot.Dispose();
        _metrics.Dispose();
        foreach (var dir in new[] { _registryRoot, _outside })
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private string Served => _slot.Current.Bundles["spam"].Version;

    [Fact]
    public void Apply_NullInRequiredFields_RefusedMalformedAndAGoodEventStillSwaps()
    {
        var good = _registry.EventFor("spam", HotSwapTests.PublishCopy(_registry, "spam", "v1"), "trained");

        var outcomes = new[]
        {
            _updater.Apply(good with { Name = null! }),
            _updater.Apply(good with { Sha256 = null! }),
            _updater.Apply(good with { Metrics = null! }),
            _updater.Apply(good with { Reason = null! }),
        };

        Assert.All(outcomes, o => Assert.Equal((SwapResult.Refused, SwapRefusal.Malformed), (o.Result, o.Refusal)));
        Assert.Equal(4, _metrics.RefusedSwaps(SwapRefusal.Malformed));
        Assert.Equal("v1", Served);
        Assert.Equal(SwapResult.Swapped, _updater.Apply(good).Result);
        Assert.Equal(good.Version, Served);
    }

    [Fact]
    public void Apply_EventPathPointsAtABundleOutsideTheRegistry_RefusedMissing()
    {
        // A complete, self-consistent bundle outside the registry: before, the event's path was loaded as a fallback.
        var forged = Path.Combine(_outside, "spam", "v9");
        CopyDirectory(_registry.BundleDirectory("spam", "v1"), forged);
        var manifest = RewriteManifest(forged, m => m with { Version = "v9" });
        var published = _registry.EventFor("spam", "v1", "trained") with { Version = "v9", Path = forged, Sha256 = manifest.Files };

        var outcome = _updater.Apply(published);

        Assert.Equal((SwapResult.Refused, SwapRefusal.Missing), (outcome.Result, outcome.Refusal));
        Assert.Equal(1, _metrics.RefusedSwaps(SwapRefusal.Missing));
        Assert.Equal("v1", Served);
    }

    [Fact]
    public void Apply_VersionFolderIsALinkOutsideTheRegistry_RefusedPath()
    {
        var forged = Path.Combine(_outside, "v2");
        CopyDirectory(_registry.BundleDirectory("spam", "v1"), forged);
        RewriteManifest(forged, m => m with { Version = "v2" });
        Directory.CreateSymbolicLink(Path.Combine(_registryRoot, "spam", "v2"), forged);
        var published = _registry.EventFor("spam", "v2", "trained");

        var outcome = _updater.Apply(published);

        Assert.Equal((SwapResult.Refused, SwapRefusal.Path), (outcome.Result, outcome.Refusal));
        Assert.Equal("v1", Served);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Apply_ManifestHeadFileOutsideTheBundle_RefusedPath(bool absolute)
    {
        // The head file the manifest names is a valid head elsewhere; its sha256 list is intact, so only the name gives it away.
        var version = HotSwapTests.PublishCopy(_registry, "spam", "v1");
        var directory = _registry.BundleDirectory("spam", version);
        var head = _slot.Current.Bundles["spam"].Heads["spam"].File;
        Directory.CreateDirectory(_outside);
        File.Copy(Path.Combine(directory, head), Path.Combine(_outside, head));
        var escape = absolute ? Path.Combine(_outside, head) : $"../v1/{head}";
        var manifest = RewriteManifest(directory, m => m with
        {
            Heads = m.Heads.ToDictionary(h => h.Key, h => h.Value with { File = escape }),
        });
        var published = new ModelPublished
        {
            Name = "spam",
            Version = version,
            Path = directory,
            Sha256 = manifest.Files,
            Reason = "trained",
            PublishedAt = DateTimeOffset.UtcNow,
        };

        var outcome = _updater.Apply(published);

        Assert.Equal((SwapResult.Refused, SwapRefusal.Path), (outcome.Result, outcome.Refusal));
        Assert.Equal(1, _metrics.RefusedSwaps(SwapRefusal.Path));
        Assert.Equal("v1", Served);
    }

    [Fact]
    public void Apply_OlderVersionAnnouncedAsTrained_RefusedDowngradeUnlessRollbackOrCatchingUp()
    {
        string last = "v1";
        for (var i = 2; i <= 10; i++)
        {
            last = HotSwapTests.PublishCopy(_registry, "spam", "v1");
        }

        Assert.Equal("v10", last);
        Assert.Equal(SwapResult.Swapped, _updater.Apply(_registry.EventFor("spam", "v10", "trained")).Result);

        // v9 sorts after v10 as text: a string comparison would take this replay for an upgrade.
        var replayed = _updater.Apply(_registry.EventFor("spam", "v9", "trained"));

        Assert.Equal((SwapResult.Refused, SwapRefusal.Downgrade), (replayed.Result, replayed.Refusal));
        Assert.Equal(1, _metrics.RefusedSwaps(SwapRefusal.Downgrade));
        Assert.Equal("v10", Served);
        Assert.Equal(SwapResult.Swapped, _updater.Apply(_registry.EventFor("spam", "v9", "rollback")).Result);
        Assert.Equal(SwapResult.Swapped, _updater.Apply(_registry.EventFor("spam", "v2", "promote")).Result);
        Assert.Equal(SwapResult.Swapped, _updater.Apply(_registry.EventFor("spam", "v1", "trained"), catchingUp: true).Result);
        Assert.Equal("v1", Served);
    }

    [Fact]
    public void Apply_ServedFileTamperedAfterTheEvent_RefusedHash()
    {
        var version = HotSwapTests.PublishCopy(_registry, "spam", "v1");
        var published = _registry.EventFor("spam", version, "trained");
        File.AppendAllText(Path.Combine(_registry.BundleDirectory("spam", version), "vocab.txt"), "extra\n");

        var outcome = _updater.Apply(published);

        Assert.Equal((SwapResult.Refused, SwapRefusal.Hash), (outcome.Result, outcome.Refusal));
        Assert.Equal("v1", Served);
    }

    [Fact]
    public async Task RunAsync_FollowerCannotStart_FaultedAndReadinessSaysSo()
    {
        var config = new ConsumerConfig { BootstrapServers = "127.0.0.1:1", GroupId = "g" };
        config.Set("no.such.property", "1");

        await Assert.ThrowsAnyAsync<Exception>(() => _updater.RunAsync(config, "models", CancellationToken.None));

        Assert.Equal(FollowerState.Faulted, _updater.State);
        var ingest = new IngestStatus();
        ingest.BrokerReachable();
        var report = new ProcessorHealth(ingest, () => _slot.Current.Bundles, TimeSpan.FromSeconds(10)) { ModelFollower = () => _updater.FollowerProblem }.Readiness();
        Assert.False(report.Ready);
        Assert.StartsWith("model follower failed", Assert.Single(report.Reasons), StringComparison.Ordinal);
    }

    private static BundleManifest RewriteManifest(string directory, Func<BundleManifest, BundleManifest> edit)
    {
        var path = Path.Combine(directory, ModelRegistry.ManifestFile);
        var manifest = edit(JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(manifest, ModelRegistry.Json));
        return manifest;
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
