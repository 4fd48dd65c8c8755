using StreamBert.Training.Data;

namespace StreamBert.Training.Tests.Data;

public class ClaimDataReaderTests
{
    private const string GroundTruth = "claims/claimbuster_groundtruth.csv";
    private const string Crowdsourced = "claims/claimbuster_crowdsourced.csv";

    [DataFact(GroundTruth)]
    public void Read_GroundTruth_MatchesPublishedCounts()
    {
        var report = new ReadReport();
        var rows = ClaimDataReader.Read(TestData.PathOf(GroundTruth), report).ToList();

        Assert.Equal(1032, rows.Count);
        Assert.Equal(731, rows.Count(r => r.Verdict == -1));
        Assert.Equal(63, rows.Count(r => r.Verdict == 0));
        Assert.Equal(238, rows.Count(r => r.Verdict == 1));
        Assert.Equal(238, rows.Count(r => r.Label == "claim"));
        Assert.Equal(1032 - 238, rows.Count(r => r.Label == "no-claim"));
        Assert.Equal(30, rows.Select(r => r.FileId).Distinct().Count());
        Assert.Equal(1031, rows.Select(r => r.Text).Distinct(StringComparer.Ordinal).Count());
        Assert.All(rows, r => Assert.True(r.LineNumber is not null && r.SentenceId is not null && r.FileId is not null));
        Assert.Equal(1032, rows.Select(r => r.SentenceId).Distinct().Count());
        Assert.Equal(("csv", 1033L, 0L), (report.Format, report.Lines, report.Skipped));

        // The first data row has commas and "" escapes inside a quoted field.
        Assert.Equal("You know, I saw a movie - \"Crocodile Dundee.\"", rows[0].Text);
        Assert.Equal((26L, 26, "1988-09-25.txt", 0), (rows[0].SentenceId!.Value, rows[0].LineNumber!.Value, rows[0].FileId!, rows[0].Verdict!.Value));
    }

    [DataFact(Crowdsourced, GroundTruth)]
    public void Read_Crowdsourced_MatchesPublishedCountsAndSharesNoSentenceIds()
    {
        var report = new ReadReport();
        var rows = ClaimDataReader.Read(TestData.PathOf(Crowdsourced), report).ToList();

        Assert.Equal(22501, rows.Count);
        Assert.Equal(14685, rows.Count(r => r.Verdict == -1));
        Assert.Equal(2403, rows.Count(r => r.Verdict == 0));
        Assert.Equal(5413, rows.Count(r => r.Verdict == 1));
        Assert.Equal(33, rows.Select(r => r.FileId).Distinct().Count());
        Assert.Equal(0, report.Skipped);

        var groundTruthIds = ClaimDataReader.Read(TestData.PathOf(GroundTruth)).Select(r => r.SentenceId).ToHashSet();
        Assert.DoesNotContain(rows, r => groundTruthIds.Contains(r.SentenceId));

        // Counted in Python: 22,408 distinct texts, 6 of them with both binary labels.
        var deduplicated = DatasetSplit.Deduplicate(rows.Select(r => r.ToLabeledText()));
        Assert.Equal(22408, deduplicated.Items.Count);
        Assert.Equal(6, deduplicated.ConflictingTexts);
        Assert.All(deduplicated.Conflicts, c => Assert.Equal(2, c.LabelCounts.Count));
    }

    [Fact]
    public void Read_CsvWithQuotingAndMalformedRows_ParsesByHeaderNameAndSkipsBadRows()
    {
        const string csv =
            "verdict,Sentence_id,TEXT,File_id,Line_number\n" +     // 1: any column order and case
            "1,10,\"We spent $5, then \"\"more\"\".\",d1.txt,3\n" +    // 2
            "-1,11,Thank you.,d1.txt,4\n" +                          // 3
            "2,12,Bad verdict,d1.txt,5\n" +                           // 4: skipped
            "0,13,Too few fields\n" +                                 // 5: skipped
            "0,14,\"unterminated,d1.txt,7\n" +                       // 6: skipped, the next line is still read
            "0,15,Plain,d2.txt,8\n" +                                 // 7
            "1,x16,Bad id,d2.txt,9\n";                                // 8: skipped
        var report = new ReadReport();

        var rows = ClaimDataReader.Read(new StringReader(csv), report).ToList();

        Assert.Equal(3, rows.Count);
        Assert.Equal(new ClaimRow { Text = "We spent $5, then \"more\".", Label = "claim", Verdict = 1, FileId = "d1.txt", LineNumber = 3, SentenceId = 10 }, rows[0]);
        Assert.Equal(("Thank you.", "no-claim"), (rows[1].Text, rows[1].Label));
        Assert.Equal(("Plain", "no-claim", 0, 15L), (rows[2].Text, rows[2].Label, rows[2].Verdict!.Value, rows[2].SentenceId!.Value));
        Assert.Equal(4, report.Skipped);
        Assert.Equal([4L, 5L, 6L, 8L], report.SkippedSamples.Select(s => s.LineNumber));
        Assert.Equal(8, report.Lines);
    }

    [Fact]
    public void Read_CsvWithoutTextOrVerdictColumn_ThrowsInvalidDataException()
    {
        var ex = Assert.Throws<InvalidDataException>(() =>
            ClaimDataReader.Read(new StringReader("Sentence_id,Sentence,Verdict\n1,hi,1\n")).ToList());
        Assert.Contains("Text", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_Jsonl_MapsLabelsAndSkipsUnknownOnes()
    {
        const string jsonl =
            "\n" +
            "{\"text\":\"Taxes rose 10%.\",\"label\":\"claim\"}\n" +
            "{\"text\":\"Hello.\",\"label\":\"NO-CLAIM\"}\n" +
            "{\"text\":\"What?\",\"label\":\"maybe\"}\n";
        var report = new ReadReport();

        var rows = ClaimDataReader.Read(new StringReader(jsonl), report).ToList();

        Assert.Equal([("Taxes rose 10%.", "claim"), ("Hello.", "no-claim")], rows.Select(r => (r.Text, r.Label)));
        Assert.All(rows, r => Assert.Null(r.Verdict));
        Assert.Equal(("jsonl", 4L, 1L), (report.Format, report.Lines, report.Skipped));
        Assert.Equal(4, report.SkippedSamples[0].LineNumber);
    }
}
