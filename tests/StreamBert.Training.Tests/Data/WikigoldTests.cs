using StreamBert.Training.Data;

namespace StreamBert.Training.Tests.Data;

/// <summary>
/// Wikigold as shipped in <c>data/ner/</c>: two columns, IO tags, and <c>-DOCSTART- O</c> lines that close documents
/// (CoNLL-2003's open them). It is the NER data of a fresh clone, so these tests need no shared data.
/// </summary>
public class WikigoldTests
{
    private const string Sample =
        "Alice I-PER\nBob I-PER\nmet O\nCarol I-PER\nDave I-PER\nin O\nNew I-LOC\nYork I-LOC\nGoogle I-ORG\n.\tO\n\n" +
        "Paris I-LOC\n\n" +
        "-DOCSTART- O\n\n" +
        "Second O\ndocument O\nEuro I-MISC\n\n" +
        "-DOCSTART- O\n\n";

    [Fact]
    public void Read_IoTagsWithClosingDocStart_ConvertsToBioAndCountsDocuments()
    {
        var report = new ConllReadReport();

        var sentences = ConllReader.Read(new StringReader(Sample), report).ToList();

        Assert.Equal(3, sentences.Count);
        // IO cannot separate adjacent entities of one type: "Alice Bob" after the sentence start is one PER, and
        // "Carol Dave" after O is another; a type change (LOC → ORG) starts a new entity.
        Assert.Equal(["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-ORG", "O"], sentences[0].Tags);
        Assert.Equal(["B-LOC"], sentences[1].Tags);
        Assert.Equal(["O", "O", "B-MISC"], sentences[2].Tags);
        Assert.Equal((2L, 14L, 0L, 6L), (report.Documents, report.Tokens, report.Skipped, report.TagsConvertedToBio));
    }

    [Fact]
    public void ReadDocuments_ClosingOrOpeningDocStart_GroupsTheSameWay()
    {
        var closing = ConllReader.ReadDocuments(new StringReader(Sample));
        var opening = ConllReader.ReadDocuments(new StringReader(
            "-DOCSTART- -X- -X- O\n\nA NNP B-NP B-PER\n\nB NNP B-NP O\n\n-DOCSTART- -X- -X- O\n\nC NNP B-NP B-LOC\n"));

        Assert.Equal([2, 1], closing.Select(d => d.Count));
        Assert.Equal(["Paris"], closing[0][1].Tokens);
        Assert.Equal([2, 1], opening.Select(d => d.Count));
    }

    [Fact]
    public void Read_ShippedFile_MatchesAwkCounts()
    {
        var report = new ConllReadReport();

        var sentences = ConllReader.Read(ShippedFile(), report).ToList();

        // awk on the file: 145 "-DOCSTART- O" lines, 1,696 non-empty sentences, 39,007 token lines, no B- tags.
        Assert.Equal((145L, 1696, 39007L, 0L), (report.Documents, sentences.Count, report.Tokens, report.Skipped));
        var entities = sentences.SelectMany(s => s.Tags).Where(t => t.StartsWith("B-", StringComparison.Ordinal))
            .GroupBy(t => t[2..]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new Dictionary<string, int> { ["PER"] = 934, ["LOC"] = 1014, ["ORG"] = 898, ["MISC"] = 712 }, entities);
        Assert.Equal(["010", "is", "the"], sentences[0].Tokens.Take(3));
        Assert.Equal("B-MISC", sentences[0].Tags[0]);
    }

    [Fact]
    public void SplitByDocument_ShippedFile_HoldsOutWholeDocumentsStably()
    {
        var documents = ConllReader.ReadDocuments(ShippedFile());

        var split = ConllReader.SplitByDocument(documents, 15);
        var again = ConllReader.SplitByDocument(ConllReader.ReadDocuments(ShippedFile()), 15);

        Assert.Equal(145, documents.Count);
        Assert.Equal(1696, split.Train.Count + split.Test.Count);
        Assert.InRange(split.Test.Count, 1696 * 8 / 100, 1696 * 25 / 100);
        Assert.Equal(split.Test.Select(s => string.Join(' ', s.Tokens)), again.Test.Select(s => string.Join(' ', s.Tokens)));
        // Whole documents: every document's sentences are all on one side.
        var testSet = split.Test.ToHashSet();
        Assert.All(documents, d => Assert.True(d.All(testSet.Contains) || !d.Any(testSet.Contains)));
    }

    /// <summary>The shipped copy in the repository's <c>data/</c> (found from the test assembly upward).</summary>
    private static string ShippedFile()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "StreamBert.sln")))
            {
                return Path.Combine(dir.FullName, "data", "ner", "wikigold.conll.txt");
            }
        }

        throw new InvalidOperationException($"No StreamBert.sln above {AppContext.BaseDirectory}.");
    }
}
