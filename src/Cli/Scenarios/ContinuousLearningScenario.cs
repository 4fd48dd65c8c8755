using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Inference;
using StreamBert.Trainer;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Scenarios;

/// <summary>
/// Continuous learning, end to end on the embedded broker: a processor serves a spam model trained on SMS
/// only; held-out Enron emails stream through it (F1 before); reviewers' labels for other Enron emails
/// arrive on labels.spam; the trainer retrains and publishes; the processor swaps; the same held-out emails
/// stream again (F1 after). Both F1 figures come from the processor's own output records.
/// </summary>
internal static class ContinuousLearningScenario
{
    public static async Task<int> RunAsync(string? sourceRegistry, int labels, int evaluate, TextWriter output, CancellationToken ct)
    {
        var research = RepoPaths.ResearchData() ?? throw new InvalidOperationException("Enron data not found: set STREAMBERT_DATA or put ../shared/data beside the repository.");
        var sms = Path.Combine(RepoPaths.ShippedData()!, "sms", "SMSSpamCollection.tsv");
        var enronFiles = new[] { Path.Combine(research, "spam", "enron1_ham.jsonl"), Path.Combine(research, "spam", "enron1_spam.jsonl") };
        var clock = Stopwatch.StartNew();

        var registry = new ModelRegistry(Path.Combine(Path.GetTempPath(), "streambert-learn-" + Guid.NewGuid().ToString("N")));
        try
        {
            if (sourceRegistry is not null && new ModelRegistry(sourceRegistry).CurrentDirectory("spam") is { } existing)
            {
                var manifest = ModelRegistry.ReadManifest(existing);
                registry.Publish("spam", dir =>
                {
                    foreach (var file in manifest.Files.Keys)
                    {
                        File.Copy(Path.Combine(existing, file), Path.Combine(dir, file));
                    }
                }, (version, files) => manifest with { Version = version, ParentVersion = null, Files = files });
                output.WriteLine($"[{Elapsed(clock)}] SMS-only spam model copied from {existing}");
            }
            else
            {
                output.WriteLine($"[{Elapsed(clock)}] Training the SMS-only spam model (heads only)…");
                await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Spam) with { DataFiles = [sms], Registry = registry.Root }, TextWriter.Null, ct);
            }

            // Enron: the held-out split is what F1 is measured on; the reviewers label emails of the training split.
            var enron = DatasetSplit.Split(DatasetSplit.Deduplicate(enronFiles.SelectMany(f => SpamDataReader.Read(f))).Items);
            var heldOut = enron.Test.OrderBy(r => DatasetSplit.Bucket("eval:" + r.Text)).Take(evaluate).ToList();
            var reviewed = enron.Train.OrderBy(r => DatasetSplit.Bucket("review:" + r.Text)).ThenBy(r => r.Text, StringComparer.Ordinal).Take(labels).ToList();
            output.WriteLine($"[{Elapsed(clock)}] Enron held-out: {heldOut.Count} emails ({heldOut.Count(r => r.Label == LabelSets.Spam)} spam) measured through the processor; {reviewed.Count} reviewer labels ({reviewed.Count(r => r.Label == LabelSets.Spam)} spam) from the training split");

            using var broker = EmbeddedBroker.Start(brokers: 1, defaultPartitions: 3);
            BrokerHost.CreateStreamBertTopics(broker, 3);
            var kafka = new Dictionary<string, string?> { ["Kafka:Consumer:fetch.wait.max.ms"] = "10" };
            using var processor = ProcessorHost.Build(
                new Dictionary<string, string?>(kafka)
                {
                    ["Processor:BootstrapServers"] = broker.BootstrapServers,
                    ["Processor:Registry"] = registry.Root,
                    ["Processor:MetricsPort"] = "-1",
                },
                Quiet);
            using var trainerHost = TrainerHost.Build(
                new Dictionary<string, string?>(kafka)
                {
                    ["Trainer:BootstrapServers"] = broker.BootstrapServers,
                    ["Trainer:Registry"] = registry.Root,
                    ["Trainer:MinNewLabels"] = labels.ToString(CultureInfo.InvariantCulture),
                    ["Trainer:BaseData:spam:0"] = sms,
                    ["Trainer:MetricsPort"] = "-1",
                },
                Quiet);
            processor.ValidateConfiguration();
            trainerHost.ValidateConfiguration();
            await processor.StartAsync(ct);
            await trainerHost.StartAsync(ct);
            var service = processor.Services.GetRequiredService<ProcessorService>();
            var trainer = trainerHost.Services.GetRequiredService<TrainerService>();
            await service.Started.WaitAsync(TimeSpan.FromMinutes(2), ct);
            await trainer.Started.WaitAsync(TimeSpan.FromMinutes(1), ct);
            var swapped = new TaskCompletionSource<SwapOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            service.Updater!.Handled += o =>
            {
                if (o.Result == SwapResult.Swapped)
                {
                    swapped.TrySetResult(o);
                }
            };
            var trained = new TaskCompletionSource<TrainingOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            trainer.RunCompleted += o => trained.TrySetResult(o);

            var outputs = new ConcurrentDictionary<string, SpamLabel>();
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var reader = Task.Run(() => Read(broker.BootstrapServers, outputs, reading.Token), CancellationToken.None);

            var before = await Measure("before", heldOut, broker.BootstrapServers, outputs, output, clock, ct);

            Produce(broker.BootstrapServers, Topics.LabelsSpam, reviewed.Select((r, i) => ($"review-{i}", JsonSerializer.SerializeToUtf8Bytes(new { text = r.Text, label = r.Label }))));
            output.WriteLine($"[{Elapsed(clock)}] {reviewed.Count} labels sent to {Topics.LabelsSpam}; waiting for the trainer…");
            var run = await trained.Task.WaitAsync(TimeSpan.FromMinutes(30), ct);
            output.WriteLine($"[{Elapsed(clock)}] Trainer: {(run.Published is { } p ? $"published spam {p.Version}" : "refused")} ({run.Reason}; {run.TrainRows} rows, {run.Elapsed.TotalSeconds:F0} s)");
            foreach (var score in run.Scores)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"           {score.Set} (n {score.N}): F1 {score.Current:F4} → {score.Candidate:F4}"));
            }

            if (run.Published is null)
            {
                await reading.CancelAsync();
                await reader;
                await trainerHost.StopAsync(CancellationToken.None);
                await processor.StopAsync(CancellationToken.None);
                return 1;
            }

            var swap = await swapped.Task.WaitAsync(TimeSpan.FromMinutes(2), ct);
            output.WriteLine($"[{Elapsed(clock)}] Processor swapped to {swap.Version} ({swap.Reason})");
            var after = await Measure("after", heldOut, broker.BootstrapServers, outputs, output, clock, ct);

            await reading.CancelAsync();
            await reader;
            await trainerHost.StopAsync(CancellationToken.None);
            await processor.StopAsync(CancellationToken.None);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Continuous learning on Enron held-out (n {heldOut.Count}, through the processor's outputs): F1 {before.F1:F4} ({before.Version}) → {after.F1:F4} ({after.Version}); precision {before.Precision:F4} → {after.Precision:F4}, recall {before.Recall:F4} → {after.Recall:F4}; total {Elapsed(clock)}"));
            return after.F1 >= 0.90 ? 0 : 2;
        }
        finally
        {
            try
            {
                Directory.Delete(registry.Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private sealed record Score(string Version, double F1, double Precision, double Recall);

    private static async Task<Score> Measure(string round, IReadOnlyList<LabeledText> rows, string bootstrap, ConcurrentDictionary<string, SpamLabel> outputs, TextWriter output, Stopwatch clock, CancellationToken ct)
    {
        var ids = rows.Select((_, i) => $"{round}-{i}").ToList();
        Produce(bootstrap, Topics.Messages, rows.Select((r, i) => (ids[i], JsonSerializer.SerializeToUtf8Bytes(new MessageInput(ids[i], r.Text)))));
        var wait = Stopwatch.StartNew();
        while (ids.Any(id => !outputs.ContainsKey(id)))
        {
            if (wait.Elapsed > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException($"Only {ids.Count(outputs.ContainsKey)} of {ids.Count} labels arrived.");
            }

            await Task.Delay(200, ct);
        }

        var labels = ids.Select(id => outputs[id]).ToList();
        var metrics = BinaryMetrics.Compute(rows.Select(r => r.Label).ToList(), labels.Select(l => l.Label).ToList(), LabelSets.Spam);
        var versions = string.Join(", ", labels.GroupBy(l => l.Model.Version).Select(g => $"{g.Key} × {g.Count()}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{Elapsed(clock)}] {round}: {labels.Count} emails labelled by {versions}: F1 {metrics.F1:F4} (precision {metrics.Precision:F4}, recall {metrics.Recall:F4})"));
        return new Score(versions, metrics.F1, metrics.Precision, metrics.Recall);
    }

    private static void Read(string bootstrap, ConcurrentDictionary<string, SpamLabel> outputs, CancellationToken ct)
    {
        var config = KafkaDefaults.Consumer(bootstrap, "learn-reader-" + Guid.NewGuid().ToString("N"));
        config.FetchWaitMaxMs = 10;
        using var consumer = new ConsumerBuilder<string, byte[]>(config).Build();
        consumer.Subscribe(Topics.MessagesSpam);
        while (!ct.IsCancellationRequested)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: { } message } && JsonSerializer.Deserialize<SpamLabel>(message.Value) is { } label)
            {
                outputs[label.Id] = label;
            }
        }

        consumer.Close();
    }

    private static void Produce(string bootstrap, string topic, IEnumerable<(string Key, byte[] Value)> records)
    {
        using var producer = new ProducerBuilder<string, byte[]>(KafkaDefaults.Producer(bootstrap)).Build();
        foreach (var (key, value) in records)
        {
            producer.Produce(topic, new Message<string, byte[]> { Key = key, Value = value });
        }

        producer.Flush(TimeSpan.FromSeconds(60));
    }

    private static void Quiet(ILoggingBuilder logging) =>
        logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }).SetMinimumLevel(LogLevel.Warning);

    private static string Elapsed(Stopwatch clock) => clock.Elapsed.ToString(@"mm\:ss", CultureInfo.InvariantCulture);
}
