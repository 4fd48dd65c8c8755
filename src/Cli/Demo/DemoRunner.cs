using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Hosting;
using StreamBert.Review;
using StreamBert.Review.Spam;
using StreamBert.Trainer;
using StreamBert.Training.Data;

namespace StreamBert.Cli.Demo;

/// <summary>Options of <c>streambert demo</c>.</summary>
internal sealed record DemoOptions
{
    public TimeSpan? Duration { get; init; }

    /// <summary>A registry to use as it is; null: the demo's own, reset on start.</summary>
    public string? Registry { get; init; }

    public double Rate { get; init; } = 25;
    public double EmailShare { get; init; } = 0.3;
    public double ReviewFraction { get; init; } = 0.15;
    public int RetrainEvery { get; init; } = 300;
    public TimeSpan RetrainWait { get; init; } = TimeSpan.FromMinutes(3);
    public bool Plain { get; init; }

    /// <summary>Port of the reviewer's desk on 127.0.0.1; 0: a free port the OS picks.</summary>
    public int ReviewPort { get; init; }
}

/// <summary>
/// The one-command demo of the whole loop, in one process: an embedded three-broker Kafka cluster, the
/// processor, a feeder replaying the SMS Spam Collection (and the ClaimBuster debates as articles), the reviewer's
/// desk on loopback, simulated reviewers who work its queue (least sure first) and send the true label of a share of
/// the messages to <c>labels.spam</c>, the training service
/// that retrains from those labels and publishes a version when it beats the live one on the held-out labels,
/// and the processor hot-swapping to it. The spam model it starts from is deliberately weak, so the loop
/// has something to fix within minutes. A live dashboard in a terminal, status lines otherwise; a summary
/// with accuracy per model version at the end.
/// </summary>
internal static class DemoRunner
{
    public static async Task<int> RunAsync(DemoOptions options, TextWriter output, CancellationToken ct)
    {
        using var guard = ShutdownGuard.Hold();
        var data = RepoPaths.ShippedData()
            ?? throw new InvalidOperationException("The demo needs the repository's data/ folder (run it from the repository).");
        var work = Directory.CreateTempSubdirectory("streambert-demo-");
        try
        {
            return await RunAsync(options, data, work.FullName, output, ct);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static async Task<int> RunAsync(DemoOptions options, string data, string work, TextWriter output, CancellationToken ct)
    {
        var models = await DemoModels.PrepareAsync(options.Registry, data, work, output, ct);
        var live = Dashboard.Supported(options);
        var state = new DemoState();
        if (!live)
        {
            PlainReport.Follow(state, output);
        }

        using var broker = EmbeddedBroker.Start(brokers: 3, defaultPartitions: 3);
        BrokerHost.CreateStreamBertTopics(broker, 3);
        output.WriteLine($"Embedded Kafka cluster (3 brokers) at {broker.BootstrapServers}");

        void Logging(ILoggingBuilder logging) => logging.AddProvider(new DemoLog(state)).SetMinimumLevel(LogLevel.Information);
        using var processorHost = ProcessorHost.Build(
            new Dictionary<string, string?>
            {
                ["Processor:BootstrapServers"] = broker.BootstrapServers,
                ["Processor:Registry"] = models.Registry.Root,
                ["Processor:GroupId"] = "streambert-demo",
                // The embedded broker holds a fetch for the whole wait even when records arrive; keep it short.
                ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
            },
            Logging);
        using var trainerHost = TrainerHost.Build(
            new Dictionary<string, string?>
            {
                ["Trainer:BootstrapServers"] = broker.BootstrapServers,
                ["Trainer:Registry"] = models.Registry.Root,
                ["Trainer:GroupId"] = "streambert-demo-trainer",
                ["Trainer:MinNewLabels"] = options.RetrainEvery.ToString(CultureInfo.InvariantCulture),
                ["Trainer:MaxWait"] = options.RetrainWait.ToString("c", CultureInfo.InvariantCulture),
                ["Trainer:Tolerance"] = "0.005",
                ["Trainer:BaseData:spam:0"] = models.SpamBaseData,
                ["Trainer:MetricsPort"] = "-1",
                ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
            },
            Logging);

        // The reviewer's desk, as `streambert review` runs it: people can open it while the simulated reviewers work its queue.
        // "Least sure" is measured from the threshold the starting spam version serves (its operating point), as the processor decides.
        var spamThreshold = models.Registry.CurrentVersion(TaskNames.Spam) is { } startVersion
            ? models.Registry.ReadManifest(TaskNames.Spam, startVersion).Heads.GetValueOrDefault(TaskNames.Spam)?.OperatingPoint?.Threshold
            : null;
        await using var desk = ReviewApp.Build(
            new Dictionary<string, string?>
            {
                ["Review:BootstrapServers"] = broker.BootstrapServers,
                ["Review:Urls"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{options.ReviewPort}"),
                ["Review:GroupId"] = "streambert-demo-review",
                ["Review:Registry"] = models.Registry.Root,
                ["Review:SpamThreshold"] = (spamThreshold ?? 0.5).ToString(CultureInfo.InvariantCulture),
                // The embedded cluster completes a group join after session.timeout.ms - 1 s (KafkaDefaults says why).
                ["Kafka:Consumer:session.timeout.ms"] = "3000",
                ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
                ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
            },
            logging =>
            {
                Logging(logging);

                // The desk keeps its antiforgery keys in memory on purpose (nothing on disk); the warning that they are not
                // encrypted at rest would only be noise among the demo's events.
                logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
            });

        var trainer = trainerHost.Services.GetRequiredService<TrainerService>();
        trainer.RunStarted += state.TrainingStarted;
        trainer.RunCompleted += state.TrainingCompleted;
        processorHost.ValidateConfiguration();
        trainerHost.ValidateConfiguration();
        await processorHost.StartAsync(ct);
        var service = processorHost.Services.GetRequiredService<ProcessorService>();
        await service.Started.WaitAsync(TimeSpan.FromMinutes(2), ct);
        var served = service.Models!;
        state.Serving(served.Bundles.Values.Select(b => KeyValuePair.Create(b.Name, b.Version)));
        service.Updater!.Handled += state.Swapped;
        await trainerHost.StartAsync(ct);
        await trainer.Started.WaitAsync(TimeSpan.FromMinutes(1), ct);
        await desk.StartAsync(ct);
        var deskAddress = desk.Address();
        var device = $"ONNX Runtime {served.Device.Provider}";
        output.WriteLine($"Processor serving {string.Join(", ", served.Bundles.Values.Select(b => $"{b.Name} {b.Version}"))} on {served.Device.Provider} ({served.Device.Reason}); trainer following labels.*");
        output.WriteLine($"Reviewer's desk: {new Uri(deskAddress, "/spam")} · {new Uri(deskAddress, "/articles")} · {new Uri(deskAddress, "/models")}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Simulated reviewers label {options.ReviewFraction:P0} of the messages from the desk's queue, least sure first, at least {SpamStream.ReviewDelay.TotalSeconds:F0} s after each was fed; the trainer retrains after {options.RetrainEvery} new labels or {options.RetrainWait.TotalSeconds:F0} s, and publishes only if the candidate is not worse on the held-out labels."));

        var context = new DemoContext(options, state, processorHost.Services.GetRequiredService<ProcessorMetrics>(), trainer, device, models.WithArticles, deskAddress);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);

        // The hosts' console lifetimes take Ctrl-C and SIGTERM for themselves (and only flag their own shutdown), so
        // the command's token cannot be relied on to hear them: the demo listens too and stops everything in order.
        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stop.Cancel();
        }

        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        if (options.Duration is { } duration)
        {
            stop.CancelAfter(duration);
        }

        state.Clock.Restart();
        var spam = new SpamStream(broker.BootstrapServers, options, state);
        var corpus = SpamDataReader.Read(Path.Combine(data, "sms", "SMSSpamCollection.tsv")).ToList();
        var streams = new List<Task>
        {
            Task.Run(() => spam.FeedAsync(corpus, stop.Token), CancellationToken.None),
            Task.Run(() => spam.ReviewAsync(desk.Services.GetRequiredService<SpamQueue>(), desk.Services.GetRequiredService<SpamLabelWriter>(), stop.Token), CancellationToken.None),
        };
        var reader = Task.Run(() => spam.Read(stop.Token), CancellationToken.None);
        if (models.WithArticles)
        {
            var articles = DebateArticles.Build(Path.Combine(data, "claimbuster", "claimbuster_crowdsourced.csv"));
            streams.Add(Task.Run(() => DebateArticles.Feed(broker.BootstrapServers, articles, options.Rate / 20, state.Articles, stop.Token), CancellationToken.None));
            streams.Add(Task.Run(() => DebateArticles.Read(broker.BootstrapServers, articles, state, stop.Token), CancellationToken.None));
        }

        try
        {
            await (live ? Dashboard.RunAsync(context, stop.Token) : PlainReport.RunAsync(context, output, stop.Token));
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(streams).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await desk.StopAsync(CancellationToken.None);
            await trainerHost.StopAsync(CancellationToken.None);
            await processorHost.StopAsync(CancellationToken.None);
            await reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        var snapshot = state.Snapshot();
        PlainReport.Summary(context, snapshot, output);
        return snapshot.Versions.Sum(v => v.Labelled) > 0 ? 0 : 1;
    }

    /// <summary>
    /// Keeps the process alive until the demo has drained and printed its summary. On Ctrl-C System.CommandLine
    /// cancels the action's token and, two seconds later, returns from <c>InvokeAsync</c> whether or not the
    /// action is done; the runtime still waits for foreground threads, and this is one.
    /// </summary>
    private sealed class ShutdownGuard : IDisposable
    {
        private readonly ManualResetEventSlim _done = new();

        private ShutdownGuard()
        {
            new Thread(() => _done.Wait()) { IsBackground = false, Name = "demo shutdown guard" }.Start();
        }

        public static ShutdownGuard Hold() => new();

        public void Dispose() => _done.Set();
    }
}
