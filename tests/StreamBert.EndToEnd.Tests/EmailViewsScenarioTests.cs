using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Cli.Scenarios;
using StreamBert.Service.Inputs;
using StreamBert.Training.Data;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// <c>scenario email-views</c>: Enron's subject line split off, every view keeping every message, and a whole run on a
/// small data folder (every 40th SMS from <c>data/</c>, made-up e-mails standing in for Enron).
/// </summary>
public sealed class EmailViewsScenarioTests : IDisposable
{
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "streambert-ev-" + Guid.NewGuid().ToString("N"));

    public EmailViewsScenarioTests() => Directory.CreateDirectory(_temp);

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Theory]
    [InlineData("Subject: re : gas\nbody line\nmore", "re : gas", "body line\nmore")]
    [InlineData("Subject: only a subject", "only a subject", "")]
    [InlineData("no subject line\nbody", "", "no subject line\nbody")]
    public void SplitEnron_SubjectLine_SubjectAndBody(string text, string subject, string body)
    {
        Assert.Equal((subject, body), EmailViewsScenario.SplitEnron(text));
    }

    [Fact]
    public void View_EveryView_OneNonEmptyRowPerMessageLabelsKept()
    {
        LabeledText[] messages =
        [
            new("Subject: hello\nsee you at noon", "ham"),
            new("Subject: free money", "spam"),
            new("Subject: \nbody without a subject", "ham"),
        ];

        foreach (var view in Enum.GetValues<EmailView>())
        {
            var rows = EmailViewsScenario.View(messages, view);

            Assert.Equal(messages.Select(m => m.Label), rows.Select(r => r.Label));
            Assert.All(rows, r => Assert.False(string.IsNullOrWhiteSpace(r.Text)));
        }

        Assert.Equal("see you at noon\nhello", EmailViewsScenario.View(messages, EmailView.BodySubject)[0].Text);
        Assert.Equal("free money", EmailViewsScenario.View(messages, EmailView.Body)[1].Text);
    }

    [Fact]
    public async Task RunAsync_SmallDataFolder_ARowPerViewOnTheSameHeldOutMessagesAndASecondRunReuses()
    {
        var data = Path.Combine(_temp, "data");
        Directory.CreateDirectory(Path.Combine(data, "spam"));
        var sms = File.ReadLines(Path.Combine(RepoData.Root, "data", "sms", "SMSSpamCollection.tsv")).Where((_, i) => i % 40 == 0).ToList();
        File.WriteAllLines(Path.Combine(data, "spam", "SMSSpamCollection.tsv"), sms);
        WriteEmails(Path.Combine(data, "spam", "enron1_ham.jsonl"), "ham", i => $"Subject: meeting notes {i}\nplease find the schedule for the gas nomination review on day {i} attached.\n> earlier note {i}");
        WriteEmails(Path.Combine(data, "spam", "enron1_spam.jsonl"), "spam", i => $"Subject: you won {i}\nclaim your free prize now, click here, offer {i} ends tonight!");
        var registry = Path.Combine(_temp, "reg");
        var json = Path.Combine(_temp, "ev.json");
        using var log = new StringWriter(CultureInfo.InvariantCulture);

        var code = await EmailViewsScenario.RunAsync(new EmailViewsRequest(registry, data, [EmailView.SubjectBody, EmailView.Subject], json), log, CancellationToken.None);

        Assert.True(code == 0, log.ToString());
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var rows = document.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["subject-body", "subject"], rows.Select(r => r.GetProperty("view").GetString()));
        var heldOut = Enumerable.Range(0, 20).SelectMany(i => new[]
        {
            $"Subject: meeting notes {i}\nplease find the schedule for the gas nomination review on day {i} attached.\n> earlier note {i}",
            $"Subject: you won {i}\nclaim your free prize now, click here, offer {i} ends tonight!",
        }).Count(t => DatasetSplit.IsTest(t));
        foreach (var row in rows)
        {
            Assert.Equal(heldOut, row.GetProperty("smsOnlyOnEnron").GetProperty("n").GetInt32());
            Assert.Equal(heldOut, row.GetProperty("mixedOnEnron").GetProperty("n").GetInt32());
            Assert.InRange(row.GetProperty("mixedOnEnron").GetProperty("f1").GetDouble(), 0, 1);
            Assert.InRange(row.GetProperty("mixedOnSms").GetProperty("ece").GetDouble(), 0, 1);
        }

        // Subjects alone are shorter than subject and body.
        Assert.True(rows[1].GetProperty("meanCharacters").GetDouble() < rows[0].GetProperty("meanCharacters").GetDouble());
        Assert.Contains("| subject-body |", log.ToString(), StringComparison.Ordinal);

        using var again = new StringWriter(CultureInfo.InvariantCulture);
        Assert.Equal(0, await EmailViewsScenario.RunAsync(new EmailViewsRequest(registry, data, [EmailView.Subject], null), again, CancellationToken.None));
        Assert.Contains("ev-sms: reusing", again.ToString(), StringComparison.Ordinal);
        Assert.Contains("ev-subject: reusing", again.ToString(), StringComparison.Ordinal);
    }

    private static void WriteEmails(string path, string label, Func<int, string> text)
    {
        var lines = new StringBuilder();
        for (var i = 0; i < 20; i++)
        {
            lines.AppendLine(JsonSerializer.Serialize(new { id = $"fake/{label}/{i}.txt", label, encoding = "utf-8", text = text(i) }));
        }

        File.WriteAllText(path, lines.ToString());
    }
}
