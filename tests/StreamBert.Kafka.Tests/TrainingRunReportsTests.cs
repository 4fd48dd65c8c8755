using System.Text;
using System.Text.Json.Nodes;
using StreamBert.Contracts;

namespace StreamBert.Kafka.Tests;

public sealed class TrainingRunReportsTests
{
    private static TrainingRunReport Refused() => new()
    {
        Bundle = "spam",
        Task = "spam",
        RunId = "0123456789abcdef0123456789abcdef",
        Number = 2,
        ParentVersion = "v2",
        Verdict = TrainingVerdicts.Refused,
        Reason = "quality gate: F1 on held-out labels 0.1951 < 0.2326 - 0.005",
        Scores = [new TrainingRunScore { Set = "held-out labels", N = 125, CurrentF1 = 0.2326, CandidateF1 = 0.1951, CurrentFalsePositiveRate = 0.01 }],
        Labels = 891,
        TrainRows = 4467,
        LabelOffsets = new Dictionary<string, LabelOffsetRange> { ["labels.spam/0"] = new(150, 450) },
        StartedAt = DateTimeOffset.UnixEpoch,
        FinishedAt = DateTimeOffset.UnixEpoch.AddSeconds(26),
    };

    [Fact]
    public void Parse_SerializedReport_RoundTrips()
    {
        var parsed = TrainingRunReports.Parse(TrainingRunReports.Serialize(Refused()));

        Assert.Equal(("spam", 2L, "v2", (string?)null, TrainingVerdicts.Refused), (parsed.Bundle, parsed.Number, parsed.ParentVersion, parsed.CandidateVersion, parsed.Verdict));
        Assert.Equal((0.2326, 0.1951, (double?)0.01), (parsed.Scores[0].CurrentF1, parsed.Scores[0].CandidateF1, parsed.Scores[0].CurrentFalsePositiveRate));
        Assert.Equal(new LabelOffsetRange(150, 450), parsed.LabelOffsets["labels.spam/0"]);
    }

    [Theory]
    [InlineData("verdict", "\"maybe\"")]
    [InlineData("bundle", "\"../etc\"")]
    [InlineData("bundle", "null")]
    [InlineData("reason", "null")]
    [InlineData("candidateVersion", "\"v3\"")] // a refused run names no candidate
    [InlineData("parentVersion", "\"latest\"")]
    [InlineData("number", "0")]
    [InlineData("scores", "[{\"set\":\"x\",\"n\":1,\"currentF1\":1.5,\"candidateF1\":0.5}]")]
    [InlineData("scores", "[null]")]
    [InlineData("labelOffsets", "{\"labels.spam/0\":{\"from\":9,\"to\":3}}")]
    [InlineData("finishedAt", "\"1969-12-31T00:00:00Z\"")]
    public void Parse_InvalidField_ThrowsInvalidData(string field, string json)
    {
        var node = JsonNode.Parse(TrainingRunReports.Serialize(Refused()))!.AsObject();
        node[field] = JsonNode.Parse(json);

        Assert.Throws<InvalidDataException>(() => TrainingRunReports.Parse(Encoding.UTF8.GetBytes(node.ToJsonString())));
    }

    [Fact]
    public void Parse_NotJsonOrTooLarge_ThrowsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => TrainingRunReports.Parse("{\"bundle\":"u8));
        Assert.Throws<InvalidDataException>(() => TrainingRunReports.Parse("null"u8));
        Assert.Throws<InvalidDataException>(() => TrainingRunReports.Parse(new byte[TrainingRunReports.MaxReportBytes + 1]));
    }
}
