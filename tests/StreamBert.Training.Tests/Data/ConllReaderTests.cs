using StreamBert.Training.Data;

namespace StreamBert.Training.Tests.Data;

public class ConllReaderTests
{
    [DataFact("ner/conll2003_train.txt")]
    public void Read_Conll2003Train_MatchesPublishedCounts()
    {
        var report = new ConllReadReport();
        var sentences = ConllReader.Read(TestData.PathOf("ner/conll2003_train.txt"), report).ToList();

        Assert.Equal(14041, sentences.Count);
        Assert.Equal(203621, sentences.Sum(s => s.Tokens.Count));
        var tags = sentences.SelectMany(s => s.Tags).GroupBy(t => t).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(23499, tags.Where(kv => kv.Key.StartsWith("B-", StringComparison.Ordinal)).Sum(kv => kv.Value));
        Assert.Equal(
            new Dictionary<string, int>
            {
                ["O"] = 169578, ["B-LOC"] = 7140, ["I-LOC"] = 1157, ["B-PER"] = 6600, ["I-PER"] = 4528,
                ["B-ORG"] = 6321, ["I-ORG"] = 3704, ["B-MISC"] = 3438, ["I-MISC"] = 1155,
            },
            tags);
        Assert.Equal((946L, 203621L, 0L, 0L), (report.Documents, report.Tokens, report.Skipped, report.TagsConvertedToBio));
        Assert.Equal(["EU", "rejects", "German", "call"], sentences[0].Tokens.Take(4));
        Assert.Equal(["B-ORG", "O", "B-MISC", "O"], sentences[0].Tags.Take(4));
        Assert.All(sentences, s => Assert.Equal(s.Tokens.Count, s.Tags.Count));
    }

    [DataFact("ner/conll2003_valid.txt", "ner/conll2003_test.txt")]
    public void Read_Conll2003ValidAndTest_MatchPublishedCounts()
    {
        var valid = ConllReader.Read(TestData.PathOf("ner/conll2003_valid.txt")).ToList();
        var test = ConllReader.Read(TestData.PathOf("ner/conll2003_test.txt")).ToList();

        Assert.Equal((3250, 5942), (valid.Count, valid.Sum(s => s.Tags.Count(t => t.StartsWith('B')))));
        Assert.Equal((3453, 5648), (test.Count, test.Sum(s => s.Tags.Count(t => t.StartsWith('B')))));
    }

    [Fact]
    public void Read_DocStartBlankLinesAndTabs_SeparateSentences()
    {
        const string text =
            "-DOCSTART- -X- -X- O\n\n" +
            "John NNP B-NP B-PER\nSmith\tNNP\tI-NP\tI-PER\nruns VBZ B-VP O\n\n\n" +
            "Paris B-LOC\n" +                                 // two columns are enough
            "-DOCSTART- -X- -X- O\n" +                        // ends the sentence without a blank line
            "Berlin NNP B-NP B-LOC";                          // no final newline
        var report = new ConllReadReport();

        var sentences = ConllReader.Read(new StringReader(text), report).ToList();

        Assert.Equal(3, sentences.Count);
        Assert.Equal(["John", "Smith", "runs"], sentences[0].Tokens);
        Assert.Equal(["B-PER", "I-PER", "O"], sentences[0].Tags);
        Assert.Equal(["Paris"], sentences[1].Tokens);
        Assert.Equal(["B-LOC"], sentences[1].Tags);
        Assert.Equal(["Berlin"], sentences[2].Tokens);
        Assert.Equal((2L, 5L, 0L), (report.Documents, report.Tokens, report.Skipped));
    }

    [Fact]
    public void Read_Iob1Tags_AreConvertedToBio()
    {
        const string text = "A I-PER\nB I-PER\nC B-PER\nD O\nE I-LOC\nF I-ORG\nG I-ORG\n";
        var report = new ConllReadReport();

        var sentence = ConllReader.Read(new StringReader(text), report).Single();

        Assert.Equal(["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"], sentence.Tags);
        Assert.Equal(3, report.TagsConvertedToBio);
    }

    [Fact]
    public void Read_SentenceWithMalformedLine_IsSkippedWhole()
    {
        const string text = "Good O\nline B-PER\n\nBad O\nlonely\nrest O\n\nAlso X-PER\n\nFine O\n";
        var report = new ConllReadReport();

        var sentences = ConllReader.Read(new StringReader(text), report).ToList();

        Assert.Equal([["Good", "line"], ["Fine"]], sentences.Select(s => s.Tokens.ToArray()));
        Assert.Equal(2, report.Skipped);
        Assert.Equal([5L, 8L], report.SkippedSamples.Select(s => s.LineNumber));
        Assert.Contains("starting on line 4", report.SkippedSamples[0].Reason, StringComparison.Ordinal);
        Assert.Contains("X-PER", report.SkippedSamples[1].Reason, StringComparison.Ordinal);
    }
}
