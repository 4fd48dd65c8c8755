using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;

namespace StreamBert.Cli.Bench;

/// <summary>
/// Kafka → processor → Kafka on the embedded cluster, with the real processor host built in-process by
/// <see cref="ProcessorHost.Build"/>. Every phase gets fresh topics and a fresh host, so no phase sees
/// another's records, offsets or latency samples.
/// </summary>
internal sealed class PipelineBench : IDisposable
{
    private readonly int _partitions;
    private const int WarmUpMessages = 30;

    private readonly EmbeddedBroker _broker;
    private readonly string _registry;
    private readonly IReadOnlyList<string> _texts;
    private readonly IReadOnlyDictionary<string, string?> _settings;
    private readonly EngineBusyListener _busy = new();

    /// <param name="partitions">Partitions per topic; the embedded broker keeps at most ~5 MiB or 100k records per partition, so large drains need more.</param>
    public PipelineBench(string registry, IReadOnlyList<string> texts, IReadOnlyDictionary<string, string?> settings, int partitions = 3)
    {
        _partitions = partitions;
        _broker = EmbeddedBroker.Start(brokers: 3, defaultPartitions: partitions);
        _registry = registry;
        _texts = texts;
        _settings = settings;
    }

    /// <summary>Pre-loads <c>messages</c>, starts the processor and times the drain until every label is on <c>messages.spam</c>.</summary>
    /// <param name="overrides">Settings for this drain only, over the bench's (for example <c>Processor:Precision</c>).</param>
    public async Task<PipelineRun> MeasureThroughputAsync(int run, double engineBatchedRate, CancellationToken ct, IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var topics = CreateTopics($"bench-{run}-tp-{Guid.NewGuid():N}");
        var count = _texts.Count;
        var prefix = $"t{run}-";
        var preload = KafkaDefaults.Producer(_broker.BootstrapServers);

        // The embedded broker answers a fetch with one stored batch per partition (librdkafka's mock: "FIXME: Multiple
        // messageSets"), where a real broker fills the fetch up to fetch.max.bytes. Small preload batches would make the
        // processor's ingest wait on fetch round trips — a limit of the mock, not of the processor — so the backlog is
        // written in large batches, as a real broker would serve it.
        preload.LingerMs = 200;
        preload.BatchNumMessages = 10_000;
        preload.BatchSize = 1_000_000;
        preload.QueueBufferingMaxMessages = 1_000_000;
        preload.QueueBufferingMaxKbytes = 1_048_576;
        using (var producer = new ProducerBuilder<string, byte[]>(preload).Build())
        {
            for (var i = 0; i < count; i++)
            {
                producer.Produce(topics.Messages, Message(prefix, i, _texts[i]));
            }

            producer.Flush(ct);
        }

        using var reader = new LabelReader(_broker.BootstrapServers, topics.MessagesSpam, prefix, count);
        _busy.Clear();
        using var host = BuildHost(topics, overrides);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        await host.StartAsync(ct).ConfigureAwait(false);
        var service = host.Services.GetRequiredService<ProcessorService>();
        await service.Started.WaitAsync(TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
        var subscribed = Stopwatch.GetTimestamp();
        var stages = host.Services.GetRequiredService<ProcessorMetrics>().Stages;
        try
        {
            // The profile's window opens at the first label, as the steady rate's does (group join and model load excluded).
            var timeout = TimeSpan.FromSeconds(60 + (count / 5.0));
            if (!await reader.WaitForAsync(1, timeout, ct).ConfigureAwait(false))
            {
                throw new TimeoutException("No label arrived.");
            }

            var profileStart = Stopwatch.GetTimestamp();
            var stagesBefore = stages.Snapshot();
            var threadsBefore = ThreadCpu.Sample();
            var processorMetrics = host.Services.GetRequiredService<ProcessorMetrics>();
            var pausesBefore = processorMetrics.Progress.Pauses;
            var waitsBefore = processorMetrics.Progress.Waits;

            // When the processor had every output acknowledged, against when the bench's reader had read them: tells a
            // processor bound from a measurement (reader) bound.
            var acknowledgedAll = 0L;
            var clock = Stopwatch.StartNew();
            while (reader.Count < count)
            {
                if (acknowledgedAll == 0 && processorMetrics.Produced >= count)
                {
                    acknowledgedAll = Stopwatch.GetTimestamp();
                }

                if (clock.Elapsed > timeout)
                {
                    throw new TimeoutException($"Only {reader.Count} of {count} labels arrived.");
                }

                await Task.Delay(10, ct).ConfigureAwait(false);
            }

            acknowledgedAll = acknowledgedAll == 0 ? Stopwatch.GetTimestamp() : acknowledgedAll;
            var profileEnd = Stopwatch.GetTimestamp();
            var threads = ThreadCpu.Delta(threadsBefore, ThreadCpu.Sample());
            var stagesAfter = stages.Snapshot();
            var stageBusy = new Dictionary<string, double>(StringComparer.Ordinal);
            for (var i = 0; i < stagesAfter.Count; i++)
            {
                stageBusy[stagesAfter[i].Stage.ToString().ToLowerInvariant()] = stagesAfter[i].Seconds - stagesBefore[i].Seconds;
            }

            var options = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ProcessorOptions>>().Value;
            var profile = new PipelineProfile((double)(profileEnd - profileStart) / Stopwatch.Frequency, options.EffectivePreprocessWorkers, stageBusy, threads)
            {
                AcknowledgedAllSeconds = (double)(acknowledgedAll - profileStart) / Stopwatch.Frequency,
                IngestPauses = processorMetrics.Progress.Pauses - pausesBefore,
                IngestWaits = processorMetrics.Progress.Waits - waitsBefore,
            };

            var cpuTime = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            long first = long.MaxValue, last = 0;
            for (var i = 0; i < count; i++)
            {
                var at = reader.ArrivedAt(i);
                first = Math.Min(first, at);
                last = Math.Max(last, at);
            }

            var steadySeconds = (double)(last - first) / Stopwatch.Frequency;
            var steady = (count - 1) / steadySeconds;
            var fromStart = count / ((double)(last - subscribed) / Stopwatch.Frequency);
            var busy = _busy.BusySeconds(first, last);
            var metrics = host.Services.GetRequiredService<ProcessorMetrics>();
            var wall = (double)(last - started) / Stopwatch.Frequency;
            return new PipelineRun(
                steady,
                fromStart,
                (double)(first - started) / Stopwatch.Frequency,
                steady / engineBatchedRate,
                busy / steadySeconds,
                (count - 1) / busy,
                metrics.MeanBatchSize,
                metrics.PaddingRatio,
                cpuTime.TotalSeconds / wall / Environment.ProcessorCount,
                profile);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Feeds at <paramref name="rate"/> messages/s for <paramref name="duration"/>, after a warm-up whose labels
    /// prove the group is joined and the pipeline warm, and reports send → label latency percentiles.
    /// </summary>
    public async Task<LatencyRun> MeasureLatencyAsync(int run, double rate, TimeSpan duration, CancellationToken ct)
    {
        var topics = CreateTopics($"bench-{run}-lat-{Guid.NewGuid():N}");
        var measured = Math.Max(1, (int)(rate * duration.TotalSeconds));
        var total = WarmUpMessages + measured;
        var prefix = $"l{run}-";
        var sent = new long[total];
        using var reader = new LabelReader(_broker.BootstrapServers, topics.MessagesSpam, prefix, total);
        using var host = BuildHost(topics);
        await host.StartAsync(ct).ConfigureAwait(false);
        await host.Services.GetRequiredService<ProcessorService>().Started.WaitAsync(TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
        try
        {
            using var producer = new ProducerBuilder<string, byte[]>(KafkaDefaults.Producer(_broker.BootstrapServers)).Build();
            for (var i = 0; i < WarmUpMessages; i++)
            {
                sent[i] = Stopwatch.GetTimestamp();
                producer.Produce(topics.Messages, Message(prefix, i, _texts[i % _texts.Count]));
            }

            producer.Flush(ct);
            if (!await reader.WaitForAsync(WarmUpMessages, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false))
            {
                throw new TimeoutException("The warm-up labels did not arrive.");
            }

            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var batchesBefore = host.Services.GetRequiredService<ProcessorMetrics>().Batches;
            var sequencesBefore = host.Services.GetRequiredService<ProcessorMetrics>().Sequences;
            var feedStart = Stopwatch.GetTimestamp();

            // A dedicated thread paces the feed: timer-based awaits on a loaded 2-core box drift by whole
            // milliseconds, which at ~100 msg/s would turn an even feed into bursts.
            var feeder = new Thread(() => Feed(producer, topics.Messages, prefix, _texts, sent, WarmUpMessages, total, rate, feedStart)) { IsBackground = true, Name = "bench-feeder" };
            feeder.Start();
            await Task.Run(() => feeder.Join(), ct).ConfigureAwait(false);
            var feedSeconds = Stopwatch.GetElapsedTime(feedStart).TotalSeconds;
            producer.Flush(ct);
            await reader.WaitForAsync(total, TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
            var cpuTime = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            var wall = Stopwatch.GetElapsedTime(feedStart).TotalSeconds;

            var latencies = new List<double>(measured);
            for (var i = WarmUpMessages; i < total; i++)
            {
                if (reader.ArrivedAt(i) is var at and > 0)
                {
                    latencies.Add((at - sent[i]) * 1000.0 / Stopwatch.Frequency);
                }
            }

            var metrics = host.Services.GetRequiredService<ProcessorMetrics>();
            var (p50, p99) = metrics.RecentLatencyMs;
            var batches = metrics.Batches - batchesBefore;
            return new LatencyRun(
                rate,
                measured / feedSeconds,
                measured,
                latencies.Count,
                BenchStats.Percentile(latencies, 0.50),
                BenchStats.Percentile(latencies, 0.99),
                latencies.Count == 0 ? double.NaN : latencies.Max(),
                p50,
                p99,
                batches == 0 ? 0 : (double)(metrics.Sequences - sequencesBefore) / batches,
                cpuTime.TotalSeconds / wall / Environment.ProcessorCount);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _busy.Dispose();
        _broker.Dispose();
    }

    private static void Feed(IProducer<string, byte[]> producer, string topic, string prefix, IReadOnlyList<string> texts, long[] sent, int from, int to, double rate, long startTicks)
    {
        for (var i = from; i < to; i++)
        {
            var due = startTicks + (long)((i - from) / rate * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() is var now && now < due)
            {
                var remainingMs = (due - now) * 1000 / Stopwatch.Frequency;
                Thread.Sleep(remainingMs > 2 ? 1 : 0);
            }

            sent[i] = Stopwatch.GetTimestamp();
            producer.Produce(topic, Message(prefix, i, texts[i % texts.Count]));
        }
    }

    private static Message<string, byte[]> Message(string prefix, int index, string text)
    {
        var id = prefix + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new Message<string, byte[]> { Key = id, Value = JsonSerializer.SerializeToUtf8Bytes(new MessageInput(id, text)) };
    }

    private TopicNames CreateTopics(string stem)
    {
        var topics = new TopicNames
        {
            Messages = stem + "-messages",
            MessagesSpam = stem + "-messages.spam",
            Articles = stem + "-articles",
            ArticlesClaims = stem + "-articles.claims",
            ArticlesEntities = stem + "-articles.entities",
            Models = stem + "-models",
        };
        foreach (var topic in new[] { topics.Messages, topics.MessagesSpam, topics.DeadLetterOf(topics.Messages), topics.Models })
        {
            _broker.CreateTopic(topic, _partitions);
        }

        return topics;
    }

    private IHost BuildHost(TopicNames topics, IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var config = new Dictionary<string, string?>
        {
            ["Processor:BootstrapServers"] = _broker.BootstrapServers,
            ["Processor:Registry"] = _registry,
            ["Processor:GroupId"] = "bench-" + Guid.NewGuid().ToString("N"),
            ["Topics:Messages"] = topics.Messages,
            ["Topics:MessagesSpam"] = topics.MessagesSpam,
            ["Topics:Articles"] = topics.Articles,
            ["Topics:ArticlesClaims"] = topics.ArticlesClaims,
            ["Topics:ArticlesEntities"] = topics.ArticlesEntities,
            ["Topics:Models"] = topics.Models,

            // The mock broker finishes a group join only after session.timeout.ms - 1 s (see KafkaDefaults);
            // librdkafka's 45 s default would put a 44 s pause before the first record.
            ["Kafka:Consumer:session.timeout.ms"] = "6000",
            ["Kafka:Consumer:heartbeat.interval.ms"] = "300",

            // The mock broker also holds every fetch for the full fetch.wait.max.ms (500 ms by default) even
            // when records arrive meanwhile, which a real broker does not: measured, it put p50 at ~600 ms
            // instead of ~40 ms at half load. Override with --set Kafka:Consumer:fetch.wait.max.ms=500 to see it.
            ["Kafka:Consumer:fetch.wait.max.ms"] = "5",

            // A free port: a demo or another processor on this machine may hold the default 9464.
            ["Processor:MetricsPort"] = "0",
        };
        foreach (var (key, value) in _settings.Concat(overrides ?? new Dictionary<string, string?>()))
        {
            config[key] = value;
        }

        var host = ProcessorHost.Build(config, logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        host.ValidateConfiguration();
        return host;
    }
}
