using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace StreamBert.Processor.Tests;

/// <summary>
/// Runs alone, after every parallel test. The exporter subscribes to the meter by name, process-wide: a test beside it
/// that disposes its own <c>ProcessorMetrics</c> (same meter name, same instrument names) ends the shared metric streams,
/// and <c>/metrics</c> then answers with <c>target_info</c> only (seen once in CI). A service runs one processor per process.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsExporterCollection
{
    public const string Name = "metrics exporter";
}

/// <summary>
/// <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c> of a running processor. The tests share one processor
/// and run one at a time; the one that takes the brokers down brings them back before it ends.
/// </summary>
[Collection(MetricsExporterCollection.Name)]
public sealed class ObservabilityEndpointTests : IClassFixture<ProcessorEndpointFixture>
{
    private readonly ProcessorEndpointFixture _processor;

    public ObservabilityEndpointTests(ProcessorEndpointFixture processor) => _processor = processor;

    [Fact]
    public async Task Healthz_ProcessRunning_Returns200()
    {
        using var response = await _processor.Http.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Readyz_AllBrokersDownThenUp_Returns503WithReasonThen200()
    {
        var (status, body) = await _processor.GetUntilAsync("/readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains($"\"spam\":\"{_processor.Model.Version}\"", body);

        _processor.Kafka.Broker.SetBrokerDown(-1);
        try
        {
            (status, body) = await _processor.GetUntilAsync("/readyz", HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30));
            Assert.True(status == HttpStatusCode.ServiceUnavailable, body);
            Assert.Contains("\"status\":\"unready\"", body);
            Assert.Contains("broker", body);
        }
        finally
        {
            _processor.Kafka.Broker.SetBrokerUp(-1);
        }

        (status, body) = await _processor.GetUntilAsync("/readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains("\"status\":\"ready\"", body);
    }

    [Fact]
    public async Task Metrics_AfterRecordsConsumed_ExposesTheProcessorInstruments()
    {
        _processor.Produce(5);
        var consumed = new Regex($$"""^streambert_records_consumed_total\{[^}]*topic="{{_processor.MessagesTopic}}"[^}]*\} (\d+)""", RegexOptions.Multiline);
        var produced = new Regex("""^streambert_records_produced_total\{[^}]*\} (\d+)""", RegexOptions.Multiline);
        // Lag is sampled about once a second, and only for partitions fetched at least once.
        var lag = new Regex($$"""^streambert_consumer_lag\{(?=[^}]*topic="{{_processor.MessagesTopic}}")[^}]*partition="\d+"[^}]*\} \d+""", RegexOptions.Multiline);

        var (status, body) = await _processor.GetUntilAsync("/metrics", HttpStatusCode.OK, TimeSpan.FromSeconds(60), text =>
            consumed.Match(text) is { Success: true } c && long.Parse(c.Groups[1].Value, CultureInfo.InvariantCulture) >= 5
            && produced.IsMatch(text) && lag.IsMatch(text));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(consumed.Match(body) is { Success: true } match && long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) >= 5, body);
        Assert.Matches(produced, body);
        Assert.Matches($$"""streambert_model_info\{[^}]*bundle="spam"[^}]*version="{{Regex.Escape(_processor.Model.Version)}}"[^}]*\} 1""", body);
        Assert.Matches("""streambert_model_swaps_total\{[^}]*bundle="spam"[^}]*\} 0""", body);
        Assert.Matches("""streambert_model_swaps_refused_total\{[^}]*bundle="spam"[^}]*\} 0""", body);
        Assert.Matches(lag, body);
        Assert.Matches("""streambert_broker_reachable(\{[^}]*\})? 1""", body);
        foreach (var histogram in new[] { "streambert_batch_tokens", "streambert_batch_padding_ratio", "streambert_inference_seconds", "streambert_end_to_end_seconds" })
        {
            Assert.Contains(histogram + "_bucket{", body);
        }

        // Seconds histograms carry sub-second buckets (the exporter's defaults start at 5).
        Assert.Contains("streambert_inference_seconds_bucket{otel_scope_name=\"StreamBert.Processor\",le=\"0.01\"}", body);
    }
}
