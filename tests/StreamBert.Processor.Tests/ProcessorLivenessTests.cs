using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Ingest;
using StreamBert.Service.Diagnostics;

namespace StreamBert.Processor.Tests;

/// <summary>A clock the test moves by hand: wall time and the monotonic timestamps progress is stamped with.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks = Stopwatch.Frequency * 1000;

    public DateTimeOffset Start { get; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => Start + TimeSpan.FromSeconds((double)_ticks / Stopwatch.Frequency);

    public override long GetTimestamp() => _ticks;

    public override long TimestampFrequency => Stopwatch.Frequency;

    public void Advance(TimeSpan by) => _ticks += (long)(by.TotalSeconds * Stopwatch.Frequency);
}

public sealed class ProcessorLivenessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly ManualClock _clock = new();
    private readonly PipelineProgress _progress;
    private readonly IngestStatus _ingest;
    private InFlightSnapshot _inFlight;

    public ProcessorLivenessTests()
    {
        _progress = new PipelineProgress(_clock);
        _progress.Attach(() => _inFlight);
        _ingest = new IngestStatus(_clock);
        _ingest.BrokerReachable();
    }

    private ProcessorLiveness Liveness() => new(_progress, _ingest, Timeout);

    [Fact]
    public void Liveness_IdleLongerThanTheTimeout_Alive()
    {
        _clock.Advance(TimeSpan.FromMinutes(10));

        var report = Liveness().Liveness();

        Assert.True(report.Alive, report.Reason);
    }

    [Fact]
    public void Liveness_WorkQueuedAndNoProgressPastTheTimeout_StalledWithWhatIsWaiting()
    {
        _inFlight = new InFlightSnapshot(260, 1_000_000, 40_000, TimeSpan.FromSeconds(4));
        _clock.Advance(Timeout - TimeSpan.FromSeconds(1));
        Assert.True(Liveness().Liveness().Alive);

        _clock.Advance(TimeSpan.FromSeconds(2));
        var report = Liveness().Liveness();

        Assert.False(report.Alive);
        Assert.Contains("260 records (1000000 bytes)", report.Reason);
        Assert.Contains("no progress", report.Reason);
    }

    [Theory]
    [InlineData("engine")]
    [InlineData("ingest")]
    [InlineData("egress")]
    public void Liveness_WorkQueuedAndOneStageMovedWithinTheTimeout_Alive(string stage)
    {
        _inFlight = new InFlightSnapshot(10, 1000, 100, TimeSpan.FromMilliseconds(10));
        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.False(Liveness().Liveness().Alive);

        Action moved = stage switch
        {
            "engine" => _progress.EngineRan,
            "ingest" => _progress.Ingested,
            _ => _progress.Egressed,
        };
        moved();
        _clock.Advance(Timeout - TimeSpan.FromSeconds(1));

        Assert.True(Liveness().Liveness().Alive);
    }

    [Fact]
    public void Liveness_ConsumerLagAndNothingConsumed_Stalled()
    {
        _ingest.PublishLag([new PartitionLag("messages", 0, 500)]);
        _clock.Advance(Timeout + TimeSpan.FromSeconds(1));

        var report = Liveness().Liveness();

        Assert.False(report.Alive);
        Assert.Contains("consumer lag 500", report.Reason);
    }

    [Fact]
    public void Liveness_WorkWaitingWhileTheBrokersAreUnreachable_Alive()
    {
        _ingest.PublishLag([new PartitionLag("messages", 0, 500)]);
        _inFlight = new InFlightSnapshot(10, 1000, 100, TimeSpan.FromMilliseconds(10));
        _ingest.BrokerUnreachable("1/1 brokers are down");
        _clock.Advance(Timeout * 3);

        Assert.True(Liveness().Liveness().Alive);
    }

    [Fact]
    public async Task Healthz_StalledThenProgressing_Returns503WithTheReasonThen200()
    {
        using var meterProvider = Sdk.CreateMeterProviderBuilder().AddPrometheusExporter().Build();
        var server = new ObservabilityServer(new ObservabilityEndpoint("127.0.0.1", 0), meterProvider, new ProcessorHealth(_ingest, () => null, Timeout, _clock), NullLoggerFactory.Instance, Liveness());
        await server.StartAsync(CancellationToken.None);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.Port}") };
            _inFlight = new InFlightSnapshot(3, 300, 30, TimeSpan.FromMilliseconds(1));
            _clock.Advance(Timeout + TimeSpan.FromSeconds(5));

            using (var stalled = await http.GetAsync("/healthz"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, stalled.StatusCode);
                Assert.Contains("stalled: 3 records", await stalled.Content.ReadAsStringAsync());
            }

            _progress.EngineRan();
            using var alive = await http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }
        finally
        {
            await server.StopAsync(CancellationToken.None);
            await server.DisposeAsync();
        }
    }
}
