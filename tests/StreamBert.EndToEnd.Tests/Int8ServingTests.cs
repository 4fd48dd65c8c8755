using System.Text.Json;
using Microsoft.Extensions.Hosting;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tasks;
using StreamBert.Kafka.Tests;
using Xunit.Abstractions;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// <c>Processor:Precision=int8</c> on a heads-only bundle (the pretrained encoder quantised into the cache): the processor
/// says so at start and labels SMS messages as the fp32 encoder does, within the quantisation's cost.
/// </summary>
[Collection(SpamModelCollection.Name)]
public sealed class Int8ServingTests(EmbeddedKafkaFixture kafka, SpamModelFixture model, ITestOutputHelper output) : IClassFixture<EmbeddedKafkaFixture>
{
    [Fact]
    public async Task Processor_PrecisionInt8_LogsTheInt8EncoderAndAgreesWithFp32OnAtLeast95PercentOfLabels()
    {
        const int count = 400;
        var sms = InputCorpus.Sms().Take(count).ToList();
        var inputs = sms.Select((m, i) => new TestInput($"int8-{i}", JsonSerializer.SerializeToUtf8Bytes(new MessageInput($"int8-{i}", m.Text)), $"int8-{i}", m.Label)).ToList();
        var directory = Path.Combine(model.Registry, model.Manifest.Name, model.Manifest.Version);
        float[] fp32Scores;
        using (var fp32 = ModelSet.Load([directory]))
        {
            fp32Scores = new OfflineScorer(fp32).ScoreTexts([.. sms.Select(m => m.Text)], TaskNames.Spam);
        }

        var topics = TestTopics.Create(kafka);
        PipelineHarness.Produce(kafka.BootstrapServers, topics.Messages, inputs);
        using var log = new CapturedLog();
        using var host = PipelineHarness.StartProcessor(topics, kafka.BootstrapServers, model.Registry, "int8-" + Guid.NewGuid().ToString("N"),
            new Dictionary<string, string?> { ["Processor:Precision"] = "int8" }, log);
        var outputs = PipelineHarness.ReadAll(kafka.BootstrapServers, topics.MessagesSpam, r => r.Select(o => o.Message.Key).Distinct().Count() >= count, TimeSpan.FromMinutes(3));
        await host.StopAsync();

        var labels = outputs.Select(o => JsonSerializer.Deserialize<SpamLabel>(o.Message.Value)!).DistinctBy(l => l.Id).ToDictionary(l => l.Id);
        Assert.Equal(count, labels.Count);
        var agree = Enumerable.Range(0, count).Count(i => labels[$"int8-{i}"].Label == (fp32Scores[i] >= 0.5 ? LabelSets.Spam : LabelSets.Ham));
        output.WriteLine($"int8 labels equal to fp32 on {agree}/{count}");
        Assert.True(agree >= count * 0.95, $"int8 agrees with fp32 on {agree}/{count}");
        Assert.Contains("Precision: int8 (encoder sha256 ", log.Tail(2000), StringComparison.Ordinal);
    }
}
