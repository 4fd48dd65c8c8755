using StreamBert.Training.Data;

namespace StreamBert.Training.Tests.Data;

public class SpamDataReaderTests
{
    private const string Sms = "spam/SMSSpamCollection.tsv";
    private const string EnronHam = "spam/enron1_ham.jsonl";
    private const string EnronSpam = "spam/enron1_spam.jsonl";

    [DataFact(Sms)]
    public void Read_SmsSpamCollection_MatchesPublishedCounts()
    {
        var report = new ReadReport();
        var rows = SpamDataReader.Read(TestData.PathOf(Sms), report).ToList();

        Assert.Equal(5574, rows.Count);
        Assert.Equal(747, rows.Count(r => r.Label == "spam"));
        Assert.Equal(4827, rows.Count(r => r.Label == "ham"));
        Assert.Equal(5171, rows.Select(r => r.Text).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal("tsv", report.Format);
        Assert.Equal(5574, report.Lines);
        Assert.Equal(5574, report.Records);
        Assert.Equal(0, report.Skipped);
        Assert.StartsWith("Go until jurong point", rows[0].Text, StringComparison.Ordinal);
    }

    [DataFact(Sms)]
    public void Deduplicate_SmsSpamCollection_Keeps5171TextsWithoutConflicts()
    {
        var result = DatasetSplit.Deduplicate(SpamDataReader.Read(TestData.PathOf(Sms)));

        Assert.Equal(5574, result.InputCount);
        Assert.Equal(5171, result.Items.Count);
        Assert.Equal(403, result.DuplicatesRemoved);
        Assert.Equal(0, result.ConflictingTexts);
    }

    [DataFact(Sms)]
    public void Split_SmsSpamCollection_MatchesHashComputedIndependently()
    {
        // Expected numbers computed in Python: int.from_bytes(sha256(text.encode()).digest()[:8], "big") % 100 < 20.
        var distinct = DatasetSplit.Deduplicate(SpamDataReader.Read(TestData.PathOf(Sms))).Items;
        var split = DatasetSplit.Split(distinct);

        Assert.Equal(1037, split.Test.Count);
        Assert.Equal(5171 - 1037, split.Train.Count);
        Assert.Equal(135, split.Test.Count(r => r.Label == "spam"));
    }

    [DataFact(EnronHam, EnronSpam)]
    public void Read_EnronJsonl_MatchesPublishedCounts()
    {
        var hamReport = new ReadReport();
        var spamReport = new ReadReport();
        var ham = SpamDataReader.Read(TestData.PathOf(EnronHam), hamReport).ToList();
        var spam = SpamDataReader.Read(TestData.PathOf(EnronSpam), spamReport).ToList();

        Assert.Equal(3672, ham.Count);
        Assert.All(ham, r => Assert.Equal("ham", r.Label));
        Assert.Equal(1500, spam.Count);
        Assert.All(spam, r => Assert.Equal("spam", r.Label));
        Assert.Equal("jsonl", hamReport.Format);
        Assert.Equal(0, hamReport.Skipped + spamReport.Skipped);
        Assert.All(ham.Concat(spam), r => Assert.StartsWith("Subject:", r.Text, StringComparison.Ordinal));
        Assert.Equal(4994, DatasetSplit.Deduplicate(ham.Concat(spam)).Items.Count);
    }

    [Fact]
    public void Read_TsvWithMalformedLines_SkipsAndCountsThem()
    {
        const string tsv =
            "ham\tHello \"there\", &lt;3\n" +       // 1: quotes are text, not CSV quoting
            "no tab on this line\n" +               // 2: skipped
            "\n" +                                  // 3: blank, ignored
            "SPAM\tWin\tnow\r\n" +                  // 4: split on the first TAB only; CRLF
            "maybe\tunknown label\n" +              // 5: skipped
            "spam\t   \n" +                         // 6: empty text, skipped
            "ham\tcarriage\rreturn kept";           // 7: lone CR stays in the text; no final LF
        var report = new ReadReport();

        var rows = SpamDataReader.Read(new StringReader(tsv), report).ToList();

        Assert.Equal(
            [
                new LabeledText("Hello \"there\", &lt;3", "ham"),
                new LabeledText("Win\tnow", "spam"),
                new LabeledText("carriage\rreturn kept", "ham"),
            ],
            rows);
        Assert.Equal("tsv", report.Format);
        Assert.Equal(7, report.Lines);
        Assert.Equal(3, report.Records);
        Assert.Equal(3, report.Skipped);
        Assert.Equal([2L, 5L, 6L], report.SkippedSamples.Select(s => s.LineNumber));
        Assert.Contains("TAB", report.SkippedSamples[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_JsonlWithMalformedLines_SkipsAndCountsThem()
    {
        const string jsonl =
            "\uFEFF{\"id\":\"a\",\"label\":\"spam\",\"encoding\":\"latin-1\",\"text\":\"Subject: win\\r\\nnow\"}\n" +
            "{\"text\": \"no label\"}\n" +
            "{not json\n" +
            "[\"array\"]\n" +
            "{\"text\": \"x\", \"label\": 1}\n" +
            "{\"text\": \"ok\", \"label\": \"Ham\"}\n";
        var report = new ReadReport();

        var rows = SpamDataReader.Read(new StringReader(jsonl), report).ToList();

        Assert.Equal([new LabeledText("Subject: win\r\nnow", "spam"), new LabeledText("ok", "ham")], rows);
        Assert.Equal("jsonl", report.Format);
        Assert.Equal(4, report.Skipped);
        Assert.Equal([2L, 3L, 4L, 5L], report.SkippedSamples.Select(s => s.LineNumber));
    }

    [Fact]
    public void Read_ManyMalformedLines_KeepsOnlyTheFirstSamples()
    {
        string text = string.Concat(Enumerable.Repeat("garbage\n", 50)) + "ham\tok\n";
        var report = new ReadReport();

        var rows = SpamDataReader.Read(new StringReader(text), report).ToList();

        Assert.Single(rows);
        Assert.Equal(50, report.Skipped);
        Assert.Equal(ReadReport.MaxSamples, report.SkippedSamples.Count);
    }
}
