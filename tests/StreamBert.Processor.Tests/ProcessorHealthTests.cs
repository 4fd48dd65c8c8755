using StreamBert.Contracts;
using StreamBert.Processor.Diagnostics;

namespace StreamBert.Processor.Tests;

public sealed class ProcessorHealthTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly IReadOnlyDictionary<string, BundleManifest> Served = new Dictionary<string, BundleManifest>
    {
        ["spam"] = new()
        {
            Name = "spam",
            Version = "v7",
            CreatedAt = DateTimeOffset.UnixEpoch,
            Encoder = new EncoderRef { Base = "all-MiniLM-L6-v2", Sha256 = "0" },
            Heads = new Dictionary<string, HeadSpec>(),
            Files = new Dictionary<string, string>(),
        },
    };

    private readonly ManualTime _time = new();
    private readonly IngestStatus _ingest;

    public ProcessorHealthTests() => _ingest = new IngestStatus(_time);

    private ProcessorHealth Health(IReadOnlyDictionary<string, BundleManifest>? served) => new(_ingest, () => served, TimeSpan.FromSeconds(10), _time);

    [Fact]
    public void Readiness_ModelsLoadedAndBrokerAnswered_Ready()
    {
        _ingest.BrokerReachable();

        var report = Health(Served).Readiness();

        Assert.True(report.Ready, string.Join("; ", report.Reasons));
        Assert.Equal("ready", report.Status);
        Assert.Equal("v7", report.Models["spam"]);
    }

    [Fact]
    public void Readiness_ModelFollowerDead_UnreadyWithItsReason()
    {
        _ingest.BrokerReachable();
        string? follower = null;
        var health = new ProcessorHealth(_ingest, () => Served, TimeSpan.FromSeconds(10), _time) { ModelFollower = () => follower };
        Assert.True(health.Readiness().Ready);

        follower = "model follower failed: KafkaException: Local: Fatal error";
        var report = health.Readiness();

        Assert.False(report.Ready);
        Assert.Equal([follower], report.Reasons);
    }

    [Fact]
    public void Readiness_NoModels_UnreadyWithReason()
    {
        _ingest.BrokerReachable();

        var report = Health(null).Readiness();

        Assert.False(report.Ready);
        Assert.Equal(["models not loaded"], report.Reasons);
    }

    [Fact]
    public void Readiness_NeverProbed_Unready()
    {
        var report = Health(Served).Readiness();

        Assert.False(report.Ready);
        Assert.Contains("never reached", Assert.Single(report.Reasons));
    }

    [Fact]
    public void Readiness_LastProbeFailed_UnreadyWithTheClientErrorAndLastContact()
    {
        _ingest.BrokerReachable();
        _time.Now += TimeSpan.FromSeconds(4);
        _ingest.BrokerUnreachable("1/1 brokers are down");

        var report = Health(Served).Readiness();

        Assert.False(report.Ready);
        var reason = Assert.Single(report.Reasons);
        Assert.Contains("1/1 brokers are down", reason);
        Assert.Contains("last contact 4 s ago", reason);
    }

    [Fact]
    public void Readiness_ProbeSucceedsAgain_Ready()
    {
        _ingest.BrokerUnreachable("down");
        _ingest.BrokerReachable();

        Assert.True(Health(Served).Readiness().Ready);
    }

    [Fact]
    public void Readiness_ProbesStopped_UnreadyOnceTheContactTimeoutPassed()
    {
        _ingest.BrokerReachable();
        _time.Now += TimeSpan.FromSeconds(9);
        Assert.True(Health(Served).Readiness().Ready);

        _time.Now += TimeSpan.FromSeconds(2);
        var report = Health(Served).Readiness();

        Assert.False(report.Ready);
        Assert.Contains("no broker contact for 11 s", Assert.Single(report.Reasons));
    }
}
