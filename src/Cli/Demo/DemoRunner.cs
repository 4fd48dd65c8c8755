using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Demo;

/// <summary>Options of <c>streambert demo</c>.</summary>
internal sealed record DemoOptions(TimeSpan? Duration, string Registry, double Rate, double EmailShare);

/// <summary>
/// The one-command demo: an embedded Kafka cluster, the processor, and a feeder that replays the SMS Spam
/// Collection (some as JSON, some as raw RFC 822 emails, a few malformed) while labels stream back and
/// are printed with their ground truth. Trains the spam model first if the registry has none.
/// </summary>
internal static class DemoRunner
{
    public static async Task<int> RunAsync(DemoOptions options, TextWriter output, CancellationToken ct)
    {
        var data = RepoPaths.ShippedData()
            ?? throw new InvalidOperationException("The demo needs the repository's data/ folder (run it from the repository).");
        var sms = Path.Combine(data, "sms", "SMSSpamCollection.tsv");
        var registry = new ModelRegistry(options.Registry);
        if (registry.CurrentVersion("spam") is null)
        {
            output.WriteLine($"No spam model in {registry.Root}: training one on the SMS Spam Collection (heads only, ~1-2 min on 2 cores)…");
            var manifest = await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [sms], Registry = registry.Root }, output, ct);
            output.WriteLine($"Trained spam {manifest.Version}: {FormatMetrics(manifest.Metrics.GetValueOrDefault(TaskNames.Spam))}");
        }

        var claimsFile = Path.Combine(data, "claimbuster", "claimbuster_crowdsourced.csv");
        var conll = RepoPaths.ResearchData() is { } research ? Path.Combine(research, "ner", "conll2003_train.txt") : null;
        var withArticles = registry.CurrentVersion("articles") is not null;
        if (!withArticles && conll is not null && File.Exists(conll))
        {
            output.WriteLine("No articles model: training quick claims and NER heads (subsets of ClaimBuster and CoNLL-2003; `streambert train` makes the full ones)…");
            await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Claims) with { DataFiles = [claimsFile], Registry = registry.Root, Limit = 6000, Epochs = 8 }, TextWriter.Null, ct);
            var articles = await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Ner) with { DataFiles = [conll], Registry = registry.Root, Limit = 4000, Epochs = 8 }, TextWriter.Null, ct);
            output.WriteLine($"Trained articles {articles.Version}: claims {FormatMetrics(articles.Metrics.GetValueOrDefault(TaskNames.Claims))}");
            withArticles = true;
        }
        else if (!withArticles)
        {
            output.WriteLine("No articles model and no CoNLL-2003 data (STREAMBERT_DATA): the demo streams messages only.");
        }

        using var broker = EmbeddedBroker.Start(brokers: 3, defaultPartitions: 3);
        BrokerHost.CreateStreamBertTopics(broker, 3);
        output.WriteLine($"Embedded Kafka cluster (3 brokers) at {broker.BootstrapServers}");

        using var host = ProcessorHost.Build(
            new Dictionary<string, string?>
            {
                ["Processor:BootstrapServers"] = broker.BootstrapServers,
                ["Processor:Registry"] = registry.Root,
                ["Processor:GroupId"] = "streambert-demo",
                // The embedded broker holds a fetch for the whole wait even when records arrive; keep it short.
                ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
            },
            logging => logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }).SetMinimumLevel(LogLevel.Warning));
        await host.StartAsync(ct);
        var metrics = host.Services.GetRequiredService<ProcessorMetrics>();
        var service = host.Services.GetRequiredService<ProcessorService>();
        await service.Started.WaitAsync(TimeSpan.FromMinutes(2), ct);
        var models = service.Models!;
        output.WriteLine($"Processor serving {string.Join(", ", models.Bundles.Values.Select(b => $"{b.Name} {b.Version}"))} on {models.Device.Provider} ({models.Device.Reason})");

        var corpus = SpamDataReader.Read(sms).ToList();
        var truth = new ConcurrentDictionary<string, (string Text, string Label)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (options.Duration is { } duration)
        {
            stop.CancelAfter(duration);
        }

        var started = Stopwatch.StartNew();
        var feed = new FeedCounts();
        var feeder = Task.Run(() => Feed(broker.BootstrapServers, corpus, truth, options, feed, stop.Token), CancellationToken.None);
        var stats = new DemoStats();
        var reader = Task.Run(() => ReadLabels(broker.BootstrapServers, truth, stats, output, stop.Token), CancellationToken.None);
        var articleStats = new ArticleStats();
        var articleTasks = new List<Task>();
        if (withArticles)
        {
            var documents = DebateArticles.Build(claimsFile);
            articleTasks.Add(Task.Run(() => DebateArticles.Feed(broker.BootstrapServers, documents, options.Rate / 20, articleStats, stop.Token), CancellationToken.None));
            articleTasks.Add(Task.Run(() => DebateArticles.Show(broker.BootstrapServers, articleStats, output, stop.Token), CancellationToken.None));
        }

        var lastReport = started.Elapsed;
        long lastCount = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), stop.Token).ContinueWith(_ => { }, CancellationToken.None);
                var now = started.Elapsed;
                var count = stats.Labels;
                var (p50, p99) = metrics.RecentLatencyMs;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{now:mm\\:ss}] articles {articleStats.Fed}→{articleStats.Labelled} ({articleStats.Sentences} sentences, {articleStats.Claims} claims, {articleStats.Entities} entities) · fed {Interlocked.Read(ref feed.Sent)} · labelled {count} ({(count - lastCount) / (now - lastReport).TotalSeconds:F0}/s) · dead-lettered {metrics.DeadLettered} · latency p50 {p50:F0} ms p99 {p99:F0} ms · batch {metrics.MeanBatchSize:F1} seq, padding {metrics.PaddingRatio:P0}"));
                lastReport = now;
                lastCount = count;
            }
        }
        finally
        {
            await feeder.ContinueWith(_ => { }, CancellationToken.None);
            await host.StopAsync(CancellationToken.None);
            await reader.ContinueWith(_ => { }, CancellationToken.None);
            await Task.WhenAll(articleTasks).ContinueWith(_ => { }, CancellationToken.None);
        }

        var elapsed = started.Elapsed.TotalSeconds;
        output.WriteLine();
        output.WriteLine("Summary");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  duration            {elapsed:F0} s"));
        output.WriteLine($"  fed                 {feed.Sent} messages ({feed.Malformed} malformed on purpose)");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  labelled            {stats.Labels} ({stats.Labels / elapsed:F1}/s), dead-lettered {metrics.DeadLettered}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  accuracy vs truth   {stats.Accuracy:P1} (spam F1 {stats.SpamF1:F3}) over {stats.Judged} labelled messages"));
        if (withArticles)
        {
            output.WriteLine($"  articles            {articleStats.Fed} fed, {articleStats.Labelled} labelled: {articleStats.Sentences} sentences, {articleStats.Claims} claims, {articleStats.Entities} entities");
        }

        var (fp50, fp99) = metrics.RecentLatencyMs;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  latency             p50 {fp50:F0} ms, p99 {fp99:F0} ms (consume → output acknowledged)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  batches             {metrics.Batches}, mean {metrics.MeanBatchSize:F1} sequences, padding {metrics.PaddingRatio:P1}"));
        return stats.Labels > 0 ? 0 : 1;
    }

    /// <summary>What the message feeder has sent so far.</summary>
    private sealed class FeedCounts
    {
        public long Sent;
        public long Malformed;
    }

    private static async Task Feed(string bootstrap, List<LabeledText> corpus, ConcurrentDictionary<string, (string, string)> truth, DemoOptions options, FeedCounts feed, CancellationToken ct)
    {
        using var producer = new ProducerBuilder<string, byte[]>(KafkaDefaults.Producer(bootstrap)).Build();
        var random = new Random(7);
        var interval = TimeSpan.FromSeconds(1.0 / options.Rate);
        var clock = Stopwatch.StartNew();
        for (long n = 0; !ct.IsCancellationRequested; n++)
        {
            var item = corpus[(int)(n % corpus.Count)];
            var id = $"sms-{n}";
            byte[] value;
            if (n % 97 == 96)
            {
                // A reminder that input is untrusted: these go to messages.dlq with the reason.
                value = (n / 97 % 3) switch
                {
                    0 => "{\"id\": \"broken"u8.ToArray(),
                    1 => [0xC3, 0x28, 0x41],
                    _ => JsonSerializer.SerializeToUtf8Bytes(new { id, body = "   " }),
                };
                Interlocked.Increment(ref feed.Malformed);
            }
            else if (random.NextDouble() < options.EmailShare)
            {
                value = Encoding.UTF8.GetBytes($"From: sender{n}@example.com\r\nTo: you@example.org\r\nSubject: a message\r\nMessage-ID: <{id}@demo.streambert>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{item.Text}\r\n");
                truth[$"{id}@demo.streambert"] = (item.Text, item.Label);
            }
            else
            {
                value = JsonSerializer.SerializeToUtf8Bytes(new MessageInput(id, item.Text));
                truth[id] = (item.Text, item.Label);
            }

            producer.Produce(Topics.Messages, new Message<string, byte[]> { Key = id, Value = value });
            Interlocked.Increment(ref feed.Sent);
            var due = interval * (n + 1) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, ct).ContinueWith(_ => { }, CancellationToken.None);
            }
        }

        producer.Flush(TimeSpan.FromSeconds(10));
    }

    private static void ReadLabels(string bootstrap, ConcurrentDictionary<string, (string Text, string Label)> truth, DemoStats stats, TextWriter output, CancellationToken ct)
    {
        using var consumer = new ConsumerBuilder<string, byte[]>(KafkaDefaults.Consumer(bootstrap, "streambert-demo-reader")).Build();
        consumer.Subscribe(Topics.MessagesSpam);
        var shown = 0L;
        var drainUntil = (DateTime?)null;
        while (true)
        {
            if (ct.IsCancellationRequested)
            {
                drainUntil ??= DateTime.UtcNow.AddSeconds(5);
                if (DateTime.UtcNow > drainUntil)
                {
                    break;
                }
            }

            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result?.Message?.Value is null)
            {
                continue;
            }

            var label = JsonSerializer.Deserialize<SpamLabel>(result.Message.Value)!;
            var known = truth.TryGetValue(label.Id, out var entry);
            stats.Add(label.Label, known ? entry.Label : null);
            if (known && (label.Label == LabelSets.Spam || shown % 25 == 0))
            {
                var text = entry.Text.ReplaceLineEndings(" ");
                var mark = label.Label == entry.Label ? "✓" : "✗";
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {label.Label,-4} {label.Score:F2} {mark} [{label.Model.Name} {label.Model.Version}] {(text.Length > 90 ? text[..90] + "…" : text)}"));
            }

            shown++;
        }

        consumer.Close();
    }

    private static string FormatMetrics(IReadOnlyDictionary<string, double>? metrics) =>
        metrics is null ? "(no metrics)" : string.Join(", ", metrics.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:F3}")));

    private sealed class DemoStats
    {
        private long _labels;
        private long _tp;
        private long _fp;
        private long _fn;
        private long _correct;
        private long _judged;

        public long Labels => Interlocked.Read(ref _labels);
        public long Judged => Interlocked.Read(ref _judged);
        public double Accuracy => Judged == 0 ? 0 : (double)Interlocked.Read(ref _correct) / Judged;
        public double SpamF1 => _tp == 0 ? 0 : 2.0 * _tp / ((2.0 * _tp) + _fp + _fn);

        public void Add(string predicted, string? actual)
        {
            Interlocked.Increment(ref _labels);
            if (actual is null)
            {
                return;
            }

            Interlocked.Increment(ref _judged);
            if (predicted == actual)
            {
                Interlocked.Increment(ref _correct);
            }

            if (predicted == LabelSets.Spam && actual == LabelSets.Spam)
            {
                Interlocked.Increment(ref _tp);
            }
            else if (predicted == LabelSets.Spam)
            {
                Interlocked.Increment(ref _fp);
            }
            else if (actual == LabelSets.Spam)
            {
                Interlocked.Increment(ref _fn);
            }
        }
    }
}
