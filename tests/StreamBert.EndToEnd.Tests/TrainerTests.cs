using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;
using StreamBert.Kafka.Tests;
using StreamBert.Processor.Diagnostics;
using StreamBert.Trainer;
using StreamBert.Training.Data;
using Xunit.Abstractions;
using StreamBert.Service.Diagnostics;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// The training service on the embedded broker: reviewers' labels arrive on labels.spam, the trainer retrains,
/// and a version that passes the quality gate appears in the registry and on the models topic; a run fed
/// with flipped labels is refused and publishes nothing; unusable label records are dead-lettered.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class TrainerTests : IClassFixture<EmbeddedKafkaFixture>, IDisposable
{
    private readonly EmbeddedKafkaFixture _kafka;
    private readonly ITestOutputHelper _output;
    private readonly string _registry;
    private readonly string _evalFile;

    public TrainerTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output)
    {
        _kafka = kafka;
        _output = output;
        _registry = Path.Combine(Path.GetTempPath(), "streambert-trainer-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.GetFiles(model.Registry, "*", SearchOption.AllDirectories))
        {
            var target = file.Replace(model.Registry, _registry, StringComparison.Ordinal);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        // The fixed evaluation file: the SMS rows `train` holds out (the served v1 never saw them).
        _evalFile = Path.Combine(_registry, "sms-held-out.tsv");
        var heldOut = DatasetSplit.Split(DatasetSplit.Deduplicate(SpamDataReader.Read(RepoData.SmsSpamCollection)).Items).Test;
        File.WriteAllLines(_evalFile, heldOut.Select(r => $"{r.Label}\t{r.Text}"));
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
    public async Task Trainer_LabelsPublishANewVersion_FlippedLabelsAreRefusedByTheGate()
    {
        var labelsTopic = _kafka.NewTopic("labels-spam", 2);
        var models = _kafka.NewTopic("models", 1);
        var dlq = _kafka.NewTopic("labels-dlq", 1);
        var runs = _kafka.NewTopic("trainer-runs", 1);
        using var outcomes = new BlockingCollection<TrainingOutcome>();
        using var host = TrainerHost.Build(new Dictionary<string, string?>
        {
            ["Trainer:BootstrapServers"] = _kafka.BootstrapServers,
            ["Trainer:Registry"] = _registry,
            ["Trainer:GroupId"] = "trainer-" + Guid.NewGuid().ToString("N"),
            ["Trainer:MinNewLabels"] = "300",
            // A retrain on the same data moves F1 on 1,037 rows by a point or two; flipped labels cost about ten.
            ["Trainer:Tolerance"] = "0.04",
            ["Trainer:BaseData:spam:0"] = RepoData.SmsSpamCollection,
            ["Trainer:EvalFiles:spam"] = _evalFile,
            ["Trainer:MetricsPort"] = "0",
            ["Topics:LabelsSpam"] = labelsTopic,
            ["Topics:LabelsClaims"] = _kafka.NewTopic("labels-claims", 1),
            ["Topics:LabelsEntities"] = _kafka.NewTopic("labels-entities", 1),
            ["Topics:LabelsDlq"] = dlq,
            ["Topics:Models"] = models,
            ["Topics:TrainerRuns"] = runs,
            ["Kafka:Consumer:session.timeout.ms"] = "6000",
            ["Kafka:Consumer:heartbeat.interval.ms"] = "300",
            ["Kafka:Consumer:fetch.wait.max.ms"] = "10",
        }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        var trainer = host.Services.GetRequiredService<TrainerService>();
        trainer.RunCompleted += outcomes.Add;
        await host.StartAsync();
        await trainer.Started.WaitAsync(TimeSpan.FromMinutes(1));

        // Labels for SMS texts the served model was trained on: the base data's own labels, as reviewers would confirm them.
        var train = DatasetSplit.Split(DatasetSplit.Deduplicate(SpamDataReader.Read(RepoData.SmsSpamCollection)).Items).Train;
        var confirmed = train.Where((_, i) => i % 7 == 0).Take(300).ToList();
        var malformed = new[] { "", "{", "[1,2]", "{\"text\":\"hi\",\"label\":\"maybe\"}", "{\"label\":\"spam\"}" };
        Produce(labelsTopic, confirmed.Select((r, i) => i % 5 == 0 ? EmailLabel(r, i) : JsonLabel(r)).Concat(malformed.Select(Encoding.UTF8.GetBytes)));

        Assert.True(outcomes.TryTake(out var first, TimeSpan.FromMinutes(6)), "no training run within 6 minutes");
        Report(first);
        Assert.NotNull(first.Published);
        var registry = new ModelRegistry(_registry);
        Assert.Equal(first.Published!.Version, registry.CurrentVersion("spam"));
        Assert.Equal("v1", first.Published.ParentVersion);
        var events = PipelineHarness.ReadAll(_kafka.BootstrapServers, models, r => r.Count >= 1, TimeSpan.FromSeconds(30));
        var published = ModelEvents.Parse(Assert.Single(events).Message.Value);
        Assert.Equal(("spam", first.Published.Version, "trained"), (published.Name, published.Version, published.Reason));
        Assert.Equal(first.Published.Files, published.Sha256);
        Assert.InRange(published.LabelOffsets.Values.Sum(), 300, 305); // next offsets: every record consumed before the run
        Assert.Null(ModelRegistry.Verify(registry.BundleDirectory("spam", published.Version)));

        var dead = PipelineHarness.ReadAll(_kafka.BootstrapServers, dlq, r => r.Count >= malformed.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(malformed.Length, dead.Count);
        Assert.All(dead, d => Assert.False(string.IsNullOrWhiteSpace(PipelineHarness.Header(d, Topics.ErrorHeader))));

        // Reviewers gone wrong: 600 other texts with the opposite label. The gate must refuse the result.
        var flipped = train.Where((_, i) => i % 7 == 3).Take(600)
            .Select(r => r with { Label = r.Label == LabelSets.Spam ? LabelSets.Ham : LabelSets.Spam }).ToList();
        Produce(labelsTopic, flipped.Select(JsonLabel));
        Assert.True(outcomes.TryTake(out var second, TimeSpan.FromMinutes(6)), "no second training run within 6 minutes");
        Report(second);
        Assert.Null(second.Published);
        Assert.StartsWith("quality gate", second.Reason, StringComparison.Ordinal);
        Assert.Equal(first.Published.Version, registry.CurrentVersion("spam"));
        Assert.Equal(2, registry.Versions("spam").Count);
        Assert.Single(PipelineHarness.ReadAll(_kafka.BootstrapServers, models, _ => true, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2)));

        // Both runs reported on the trainer-runs topic, the refused one with the gate's own scores: what the desk shows.
        var reports = PipelineHarness.ReadAll(_kafka.BootstrapServers, runs, r => r.Count >= 2, TimeSpan.FromSeconds(30))
            .Select(r => (r.Message.Key, Report: TrainingRunReports.Parse(r.Message.Value))).ToList();
        Assert.Equal([("spam", TrainingVerdicts.Published), ("spam", TrainingVerdicts.Refused)], reports.Select(r => (r.Key, r.Report.Verdict)));
        var (accepted, refused) = (reports[0].Report, reports[1].Report);
        Assert.Equal((1L, "v1", first.Published.Version), (accepted.Number, accepted.ParentVersion, accepted.CandidateVersion));
        Assert.Equal((2L, "spam", first.Published.Version, (string?)null), (refused.Number, refused.Task, refused.ParentVersion, refused.CandidateVersion));
        Assert.Equal(second.Reason, refused.Reason);
        Assert.Equal(second.Scores.Select(s => (s.Set, s.N, s.Current, s.Candidate)), refused.Scores.Select(s => (s.Set, s.N, s.CurrentF1, s.CandidateF1)));
        Assert.Equal(second.TrainRows, refused.TrainRows);
        // The run starts once 300 of the flipped labels are in (MinNewLabels); its range begins where the first run's ended.
        Assert.InRange(refused.LabelOffsets.Values.Sum(r => r.To - r.From), 300, flipped.Count);
        Assert.Equal(accepted.LabelOffsets.Values.Sum(r => r.To), refused.LabelOffsets.Values.Sum(r => r.From));
        Assert.InRange(refused.Labels, accepted.Labels + 300, trainer.LabelCounts["spam"]);
        Assert.True(refused.StartedAt >= accepted.FinishedAt && refused.FinishedAt > refused.StartedAt);

        // The trainer's own endpoints: runs by result, dead letters, the last gate scores; ready with a current version.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.Services.GetRequiredService<ObservabilityServer>().Port}") };
        var scrape = await http.GetStringAsync("/metrics");
        Assert.Matches("streambert_trainer_runs_total\\{[^}]*result=\"published\"[^}]*\\} 1", scrape);
        Assert.Matches("streambert_trainer_runs_total\\{[^}]*result=\"refused\"[^}]*\\} 1", scrape);
        Assert.Contains("streambert_trainer_labels_dead_lettered_total", scrape, StringComparison.Ordinal);
        Assert.Contains("streambert_trainer_last_f1", scrape, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);
        await host.StopAsync();
    }

    [Theory]
    [InlineData("{\"text\":\"Win a prize\",\"label\":\"spam\"}", null)]
    [InlineData("{\"text\":\"Lunch?\",\"label\":\"ham\"}", null)]
    [InlineData("{\"text\":\"\",\"label\":\"ham\"}", "blank")]
    [InlineData("{\"text\":\"x\",\"label\":\"SPAM\"}", "label")]
    [InlineData("{\"text\":\"x\",\"label\":1}", "label")]
    [InlineData("null", "JSON object")]
    [InlineData("{\"email\":\"not an email at all\",\"label\":\"spam\"}", "email")]
    public void LabelParser_Spam(string json, string? error)
    {
        var parsed = LabelParser.Parse(TaskNames.Spam, Encoding.UTF8.GetBytes(json), 1024);
        if (error is null)
        {
            Assert.Null(parsed.Error);
            Assert.NotNull(parsed.Text);
        }
        else
        {
            Assert.Contains(error, parsed.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void LabelParser_EntitySpansBecomeBioTagsOnWords()
    {
        const string text = "Angela Merkel visited Paris-Nord, France.";
        var json = JsonSerializer.Serialize(new { text, entities = new[] { new { start = 0, end = 13, type = "PER" }, new { start = 34, end = 40, type = "LOC" } } });
        var parsed = LabelParser.Parse(TaskNames.Ner, Encoding.UTF8.GetBytes(json), 4096);
        Assert.Null(parsed.Error);
        Assert.Equal(["Angela", "Merkel", "visited", "Paris", "-", "Nord", ",", "France", "."], parsed.Sentence!.Tokens);
        Assert.Equal(["B-PER", "I-PER", "O", "O", "O", "O", "O", "B-LOC", "O"], parsed.Sentence.Tags);

        Assert.Contains("overlap", LabelParser.Parse(TaskNames.Ner, Encoding.UTF8.GetBytes("{\"text\":\"ab cd\",\"entities\":[{\"start\":0,\"end\":4,\"type\":\"PER\"},{\"start\":3,\"end\":5,\"type\":\"ORG\"}]}"), 4096).Error, StringComparison.Ordinal);
        Assert.Contains("inside the text", LabelParser.Parse(TaskNames.Ner, Encoding.UTF8.GetBytes("{\"text\":\"ab\",\"entities\":[{\"start\":0,\"end\":9,\"type\":\"PER\"}]}"), 4096).Error, StringComparison.Ordinal);
        Assert.Contains("type", LabelParser.Parse(TaskNames.Ner, Encoding.UTF8.GetBytes("{\"text\":\"ab\",\"entities\":[{\"start\":0,\"end\":1,\"type\":\"DATE\"}]}"), 4096).Error, StringComparison.Ordinal);
        Assert.Null(LabelParser.Parse(TaskNames.Ner, Encoding.UTF8.GetBytes("{\"tokens\":[\"EU\",\"rejects\"],\"tags\":[\"B-ORG\",\"O\"]}"), 4096).Error);
        Assert.Contains("tags", LabelParser.Parse(TaskNames.Ner, Encoding.UTF8.GetBytes("{\"tokens\":[\"EU\"],\"tags\":[\"B-XYZ\"]}"), 4096).Error, StringComparison.Ordinal);
        Assert.Contains("UTF-8", LabelParser.Parse(TaskNames.Claims, [0x7b, 0xff, 0x7d], 4096).Error, StringComparison.Ordinal);
        Assert.Contains("exceeds", LabelParser.Parse(TaskNames.Claims, new byte[5000], 4096).Error, StringComparison.Ordinal);
    }

    private void Report(TrainingOutcome outcome)
    {
        _output.WriteLine($"{outcome.Task}: {(outcome.Published is { } m ? "published " + m.Version : "refused")} — {outcome.Reason}; {outcome.TrainRows} rows, {outcome.Elapsed.TotalSeconds:F0} s");
        foreach (var score in outcome.Scores)
        {
            _output.WriteLine($"  {score.Set} (n {score.N}): F1 {score.Current:F4} → {score.Candidate:F4}");
        }
    }

    private void Produce(string topic, IEnumerable<byte[]> values)
    {
        using var producer = new ProducerBuilder<string, byte[]>(_kafka.ProducerConfig()).Build();
        var i = 0;
        foreach (var value in values)
        {
            producer.Produce(topic, new Message<string, byte[]> { Key = "label-" + i++, Value = value });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
    }

    private static byte[] JsonLabel(LabeledText row) => JsonSerializer.SerializeToUtf8Bytes(new { text = row.Text, label = row.Label });

    private static byte[] EmailLabel(LabeledText row, int i) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        email = $"From: someone@example.com\r\nTo: you@example.com\r\nSubject: \r\nMessage-ID: <label-{i}@test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{row.Text}\r\n",
        label = row.Label,
    });
}
