using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Bench;

/// <summary>
/// <c>streambert bench-overload</c>: a real <c>streambert processor</c> child process on the embedded cluster, first
/// timed draining a backlog (its drain rate), then fed at <c>--factor</c> times that rate for <c>--seconds</c>, then
/// left to catch up. Reports the child's peak resident memory (<c>VmHWM</c>), the p99 consume→output latency from its
/// own <c>streambert_end_to_end_seconds</c> histogram over the overload and catch-up, consumer lag on its
/// <c>/metrics</c> during and after, ingest pauses, and whether every message was labelled. The processor runs
/// with its defaults (in-flight budget, client queues); only the mock broker's quirks are configured.
/// </summary>
internal static partial class OverloadBench
{
    private const int Partitions = 12;
    private const int DrainMessages = 2000;

    public static async Task<int> RunAsync(string registryPath, double seconds, double factor, TextWriter output, CancellationToken ct)
    {
        var data = RepoPaths.ShippedData()
            ?? throw new InvalidOperationException("The overload bench needs the repository's data/ folder (run it from the repository).");
        var sms = Path.Combine(data, "sms", "SMSSpamCollection.tsv");
        var registry = new ModelRegistry(Path.GetFullPath(registryPath));
        if (registry.CurrentVersion(TaskNames.Spam) is null)
        {
            output.WriteLine($"No spam model in {registry.Root}: training one on the SMS Spam Collection (heads only, ~1-2 min on 2 cores)…");
            await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [sms], Registry = registry.Root }, output, ct).ConfigureAwait(false);
        }

        var texts = BenchCorpus.Load(sms, 5574);
        using var broker = EmbeddedBroker.Start(brokers: 1, defaultPartitions: Partitions);
        var stem = "overload-" + Guid.NewGuid().ToString("N")[..8];
        var messages = stem + "-messages";
        var labels = stem + "-messages.spam";
        foreach (var topic in new[] { messages, labels, Topics.DeadLetterOf(messages), stem + "-models" })
        {
            // Enough partitions that no partition of the mock passes its ~5 MiB retention during the backlog.
            broker.CreateTopic(topic, Partitions);
        }

        var port = FreePort();
        using var processor = StartProcessor(broker.BootstrapServers, registry.Root, stem, port, output);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        await WaitReadyAsync(http, processor, ct).ConfigureAwait(false);

        // Generous capacity: the reader indexes labels by message number.
        var capacity = DrainMessages + (int)(seconds * 5000) + 1;
        using var reader = new LabelReader(broker.BootstrapServers, labels, "o", capacity);
        var producerConfig = KafkaDefaults.Producer(broker.BootstrapServers);
        producerConfig.MessageTimeoutMs = 600_000;
        using var producer = new ProducerBuilder<string, byte[]>(producerConfig).Build();
        var sent = new long[capacity];

        // 1. Drain rate: a backlog, timed from the first label to the last.
        for (var i = 0; i < DrainMessages; i++)
        {
            sent[i] = Stopwatch.GetTimestamp();
            producer.Produce(messages, Message(i, texts[i % texts.Count]));
        }

        producer.Flush(ct);
        if (!await reader.WaitForAsync(DrainMessages, TimeSpan.FromMinutes(5), ct).ConfigureAwait(false))
        {
            throw new TimeoutException($"Only {reader.Count} of {DrainMessages} drain labels arrived.");
        }

        long first = long.MaxValue, last = 0;
        for (var i = 0; i < DrainMessages; i++)
        {
            first = Math.Min(first, reader.ArrivedAt(i));
            last = Math.Max(last, reader.ArrivedAt(i));
        }

        var drainRate = (DrainMessages - 1) / ((double)(last - first) / Stopwatch.Frequency);
        var rate = factor * drainRate;
        var total = DrainMessages + (int)(rate * seconds);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"drain rate {drainRate:F0} msg/s; feeding {rate:F0} msg/s ({factor:F1}×) for {seconds:F0} s = {total - DrainMessages} messages"));

        // 2. Overload, sampled once a second; 3. catch-up until every label arrived and lag is 0.
        var before = await ScrapeAsync(http, ct).ConfigureAwait(false);
        var feedStart = Stopwatch.GetTimestamp();
        var feeder = new Thread(() =>
        {
            for (var i = DrainMessages; i < total; i++)
            {
                var due = feedStart + (long)((i - DrainMessages) / rate * Stopwatch.Frequency);
                while (Stopwatch.GetTimestamp() is var now && now < due)
                {
                    Thread.Sleep((due - now) * 1000 / Stopwatch.Frequency > 2 ? 1 : 0);
                }

                sent[i] = Stopwatch.GetTimestamp();
                producer.Produce(messages, Message(i, texts[i % texts.Count]));
            }
        })
        { IsBackground = true, Name = "overload-feeder" };
        feeder.Start();

        long maxLagDuringFeed = 0, maxRss = 0, maxInFlightBytes = 0, finalLag = -1;
        var lagSeries = new List<long>();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await Task.Delay(1000, ct).ConfigureAwait(false);
            var sample = await ScrapeAsync(http, ct).ConfigureAwait(false);
            var rss = ResidentKb(processor.Id, "VmRSS");
            maxRss = Math.Max(maxRss, rss);
            maxInFlightBytes = Math.Max(maxInFlightBytes, (long)sample.InFlightBytes);
            lagSeries.Add(sample.Lag);
            var feeding = feeder.IsAlive;
            if (feeding)
            {
                maxLagDuringFeed = Math.Max(maxLagDuringFeed, sample.Lag);
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"t={clock.Elapsed.TotalSeconds,5:F0}s {(feeding ? "feeding " : "catch-up")} labelled {reader.Count,7}/{total} lag {sample.Lag,7} in-flight {sample.InFlightBytes / 1024,6:F0} KiB pauses {sample.Pauses,5:F0} rss {rss / 1024,5} MiB"));
            if (!feeding && reader.Count >= total && sample.Lag == 0)
            {
                finalLag = sample.Lag;
                break;
            }

            if (processor.HasExited)
            {
                throw new InvalidOperationException($"The processor exited with {processor.ExitCode}.");
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(seconds * (factor + 2)) + TimeSpan.FromMinutes(2))
            {
                break;
            }
        }

        producer.Flush(ct);
        var after = await ScrapeAsync(http, ct).ConfigureAwait(false);
        var peakRss = ResidentKb(processor.Id, "VmHWM");
        var p99 = after.LatencyP99Bound(before, 0.99);
        var p50 = after.LatencyP99Bound(before, 0.50);
        var external = new List<double>();
        for (var i = DrainMessages; i < total; i++)
        {
            if (reader.ArrivedAt(i) is var at and > 0)
            {
                external.Add((at - sent[i]) * 1000.0 / Stopwatch.Frequency);
            }
        }

        var lost = total - reader.Count;
        output.WriteLine();
        output.WriteLine("| measure | value | target |");
        output.WriteLine("| --- | --- | --- |");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| drain rate (backlog of {DrainMessages}) | {drainRate:F0} msg/s | |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| feed | {rate:F0} msg/s ({factor:F1}×) for {seconds:F0} s, {total - DrainMessages} messages | |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| processor peak RSS (VmHWM) | {peakRss / 1024.0:F0} MiB (max sampled VmRSS {maxRss / 1024.0:F0} MiB) | < 1536 MiB |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| consume→output latency, processor histogram, overload + catch-up | p50 ≤ {p50:0.###} s, p99 ≤ {p99:0.###} s (bucket bounds, {after.LatencyCount - before.LatencyCount:F0} records) | p99 ≤ 2 s |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| produce→label latency (includes the wait in Kafka) | p50 {BenchStats.Percentile(external, 0.5) / 1000:F1} s, p99 {BenchStats.Percentile(external, 0.99) / 1000:F1} s | grows with the backlog |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| consumer lag on /metrics | max {maxLagDuringFeed} during the feed, {finalLag} at the end | grows, then 0 |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| in-flight bytes (max sampled) | {maxInFlightBytes / 1024.0:F0} KiB | ≤ Processor:MaxInFlightBytes |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| ingest pauses | {after.Pauses:F0} for {total} messages | ≪ messages |"));
        output.WriteLine($"| labelled | {reader.Count} of {total} ({lost} missing) | all |");
        output.WriteLine($"| lag per second | {string.Join(" ", lagSeries)} | |");

        StopProcessor(processor);
        var ok = lost == 0 && finalLag == 0 && peakRss < 1536 * 1024 && p99 <= 2;
        output.WriteLine(ok ? "overload: all targets met" : "overload: TARGET MISSED");
        return ok ? 0 : 1;
    }

    private static Message<string, byte[]> Message(int index, string text)
    {
        var id = "o" + index.ToString(CultureInfo.InvariantCulture);
        return new Message<string, byte[]> { Key = id, Value = JsonSerializer.SerializeToUtf8Bytes(new MessageInput(id, text)) };
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>This executable's <c>processor</c> verb in a child process, so its memory is measured alone.</summary>
    private static Process StartProcessor(string bootstrap, string registry, string stem, int port, TextWriter output)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("No process path.");
        var start = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(OverloadBench).Assembly.Location);
        }

        foreach (var arg in new[] { "processor", "--bootstrap", bootstrap, "--registry", registry, "--group", stem })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["STREAMBERT__Processor__MetricsHost"] = "127.0.0.1";
        start.Environment["STREAMBERT__Processor__MetricsPort"] = port.ToString(CultureInfo.InvariantCulture);
        start.Environment["STREAMBERT__Topics__Messages"] = stem + "-messages";
        start.Environment["STREAMBERT__Topics__MessagesSpam"] = stem + "-messages.spam";
        start.Environment["STREAMBERT__Topics__Articles"] = stem + "-articles";
        start.Environment["STREAMBERT__Topics__ArticlesClaims"] = stem + "-articles.claims";
        start.Environment["STREAMBERT__Topics__ArticlesEntities"] = stem + "-articles.entities";
        start.Environment["STREAMBERT__Topics__Models"] = stem + "-models";

        // The mock broker's quirks (see PipelineBench): group joins wait session.timeout.ms - 1 s, fetches are held
        // for the whole fetch.wait.max.ms.
        start.Environment["STREAMBERT__Kafka__Consumer__session.timeout.ms"] = "6000";
        start.Environment["STREAMBERT__Kafka__Consumer__heartbeat.interval.ms"] = "300";
        start.Environment["STREAMBERT__Kafka__Consumer__fetch.wait.max.ms"] = "5";
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the processor.");
        void Forward(string? line)
        {
            // Warnings and errors only: the info lines would drown the samples.
            if (line is not null && (line.Contains(" warn: ", StringComparison.Ordinal) || line.Contains(" fail: ", StringComparison.Ordinal) || line.Contains(" crit: ", StringComparison.Ordinal)))
            {
                output.WriteLine("  processor: " + line);
            }
        }

        process.OutputDataReceived += (_, e) => Forward(e.Data);
        process.ErrorDataReceived += (_, e) => Forward(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void StopProcessor(Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        // SIGTERM: the processor drains and commits; then it is gone either way.
        Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
        }
    }

    private static async Task WaitReadyAsync(HttpClient http, Process processor, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (processor.HasExited)
            {
                throw new InvalidOperationException($"The processor exited with {processor.ExitCode} before it was ready.");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("/readyz", UriKind.Relative), ct).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(250, ct).ConfigureAwait(false);
        }

        throw new TimeoutException("The processor was not ready within 2 minutes.");
    }

    /// <summary>Resident memory of a process in KiB from <c>/proc/PID/status</c> (<c>VmRSS</c> now, <c>VmHWM</c> peak).</summary>
    private static long ResidentKb(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(field.Length + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static async Task<Scrape> ScrapeAsync(HttpClient http, CancellationToken ct)
    {
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), ct).ConfigureAwait(false);
        double Sum(Regex pattern) => pattern.Matches(text).Sum(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        var buckets = new SortedDictionary<double, double>();
        foreach (Match m in LatencyBucket().Matches(text))
        {
            var le = m.Groups[1].Value == "+Inf" ? double.PositiveInfinity : double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            buckets[le] = buckets.GetValueOrDefault(le) + double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        }

        return new Scrape((long)Sum(Lag()), Sum(InFlightBytes()), Sum(Pauses()), buckets, Sum(LatencyCount()));
    }

    private sealed record Scrape(long Lag, double InFlightBytes, double Pauses, SortedDictionary<double, double> Buckets, double LatencyCount)
    {
        /// <summary>The smallest bucket bound under which <paramref name="quantile"/> of the records since <paramref name="before"/> fell.</summary>
        public double LatencyP99Bound(Scrape before, double quantile)
        {
            var total = LatencyCount - before.LatencyCount;
            foreach (var (le, count) in Buckets)
            {
                if (count - before.Buckets.GetValueOrDefault(le) >= quantile * total)
                {
                    return le;
                }
            }

            return double.PositiveInfinity;
        }
    }

    [GeneratedRegex("""^streambert_consumer_lag\{[^}]*\} (\d+)""", RegexOptions.Multiline)]
    private static partial Regex Lag();

    [GeneratedRegex("""^streambert_inflight_bytes(?:\{[^}]*\})? ([\d.eE+]+)""", RegexOptions.Multiline)]
    private static partial Regex InFlightBytes();

    [GeneratedRegex("""^streambert_ingest_pauses_total(?:\{[^}]*\})? ([\d.eE+]+)""", RegexOptions.Multiline)]
    private static partial Regex Pauses();

    [GeneratedRegex("""^streambert_end_to_end_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)""", RegexOptions.Multiline)]
    private static partial Regex LatencyBucket();

    [GeneratedRegex("""^streambert_end_to_end_seconds_count(?:\{[^}]*\})? (\d+)""", RegexOptions.Multiline)]
    private static partial Regex LatencyCount();
}
