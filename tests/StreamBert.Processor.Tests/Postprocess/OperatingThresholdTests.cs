using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Postprocess;
using StreamBert.Processor.Preprocess;
using StreamBert.Processor.Tests.Poison;

namespace StreamBert.Processor.Tests.Postprocess;

/// <summary>The label is the score cut at the serving version's own threshold (its manifest's operating point).</summary>
public sealed class OperatingThresholdTests
{
    private static readonly ModelRef Model = new("spam", "v3");

    [Theory]
    [InlineData(0.30f, 0.28, null, "spam")]  // under 0.5 but over the version's precision-first threshold
    [InlineData(0.60f, 0.70, null, "ham")]   // over 0.5 but under the version's threshold
    [InlineData(0.30f, 0.28, 0.5, "ham")]    // a configured threshold overrides the version's
    public void Build_MessageScoredWithAVersionThreshold_LabelsAtThatThreshold(float score, double versionThreshold, double? configured, string expected)
    {
        var options = new ProcessorOptions { SpamThreshold = configured };
        var probe = new PreprocessProbe(options);
        var input = JsonSerializer.SerializeToUtf8Bytes(new { id = "m1", body = "Call now to claim your prize" });
        var accepted = Assert.IsType<Accepted>(probe.Process(PreprocessProbe.Messages, input));
        foreach (var work in accepted.Document.Sequences)
        {
            work.SpamScore = score;
            work.SpamThreshold = versionThreshold;
            work.SpamModel = Model;
        }

        var set = new Postprocessor(options, new TopicNames { Messages = PreprocessProbe.Messages }, new DeadLetters(new TopicNames(), 32 * 1024)).Build(accepted.Document);

        using var output = JsonDocument.Parse(Assert.Single(set.Records).Value);
        Assert.Equal(expected, output.RootElement.GetProperty("label").GetString());
        Assert.Equal(score, output.RootElement.GetProperty("score").GetSingle());
    }
}
