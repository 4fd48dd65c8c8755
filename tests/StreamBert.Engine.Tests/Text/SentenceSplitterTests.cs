using System.Text;
using StreamBert.Engine.Text;
using Xunit.Abstractions;

namespace StreamBert.Engine.Tests.Text;

public sealed class SentenceSplitterTests(ITestOutputHelper log)
{
    [Theory]
    // plain terminators
    [InlineData("The market fell. Investors sold bonds.", "The market fell.", "Investors sold bonds.")]
    [InlineData("Is it over? Not yet! We wait.", "Is it over?", "Not yet!", "We wait.")]
    [InlineData("Really?! Yes.", "Really?!", "Yes.")]
    [InlineData("No final punctuation", "No final punctuation")]
    [InlineData("One sentence.", "One sentence.")]
    // titles and Latin abbreviations
    [InlineData("Mr. Smith met Mrs. Jones and Dr. Lee in St. Louis on Tuesday.", "Mr. Smith met Mrs. Jones and Dr. Lee in St. Louis on Tuesday.")]
    [InlineData("Sen. Warren and Gov. Newsom spoke. Prof. Kim disagreed.", "Sen. Warren and Gov. Newsom spoke.", "Prof. Kim disagreed.")]
    [InlineData("Fruit, e.g. Apples, and grains, i.e. Wheat, rose.", "Fruit, e.g. Apples, and grains, i.e. Wheat, rose.")]
    [InlineData("The case Smith v. Jones was heard vs. Brown v. Board.", "The case Smith v. Jones was heard vs. Brown v. Board.")]
    // abbreviations that may end a sentence
    [InlineData("The U.S. Senate passed the bill. The U.K. Parliament did not.", "The U.S. Senate passed the bill.", "The U.K. Parliament did not.")]
    [InlineData("He moved to the U.S. He never returned.", "He moved to the U.S.", "He never returned.")]
    [InlineData("Exports to the U.S. rose 4% in Jan. The deficit narrowed.", "Exports to the U.S. rose 4% in Jan.", "The deficit narrowed.")]
    [InlineData("Apple Inc. said sales rose. Shares of Acme Corp. fell.", "Apple Inc. said sales rose.", "Shares of Acme Corp. fell.")]
    [InlineData("He joined Apple Inc. The company later fired him.", "He joined Apple Inc.", "The company later fired him.")]
    [InlineData("Apples, pears, etc. are on sale. Bread, milk, etc. The store closes at 9.", "Apples, pears, etc. are on sale.", "Bread, milk, etc.", "The store closes at 9.")]
    [InlineData("The vote is on Feb. 12 and results come Sept. 3.", "The vote is on Feb. 12 and results come Sept. 3.")]
    [InlineData("Martin Luther King Jr. Day is a holiday.", "Martin Luther King Jr. Day is a holiday.")]
    [InlineData("The meeting ended at 5 p.m. Eastern time. It resumes at 9 a.m. Tomorrow is busy.", "The meeting ended at 5 p.m. Eastern time.", "It resumes at 9 a.m.", "Tomorrow is busy.")]
    [InlineData("He lives in Austin, Tex. The plant employs 500.", "He lives in Austin, Tex.", "The plant employs 500.")]
    [InlineData("Smith et al. Found no effect. In 2020 it changed.", "Smith et al. Found no effect.", "In 2020 it changed.")]
    // initials
    [InlineData("J. F. Kennedy was elected in 1960.", "J. F. Kennedy was elected in 1960.")]
    [InlineData("The author J.R.R. Tolkien wrote it. Later works followed.", "The author J.R.R. Tolkien wrote it.", "Later works followed.")]
    [InlineData("It is rich in vitamin C. The dose matters.", "It is rich in vitamin C.", "The dose matters.")]
    [InlineData("Designed by I. M. Pei, it opened in 1989.", "Designed by I. M. Pei, it opened in 1989.")]
    // numbers and amounts
    [InlineData("Revenue was $3.5 billion, up 2.5% from $3.4 billion. Profit fell.", "Revenue was $3.5 billion, up 2.5% from $3.4 billion.", "Profit fell.")]
    [InlineData("Version 1.2.3 shipped on 03.15.2024. It fixed 12,000 bugs.", "Version 1.2.3 shipped on 03.15.2024.", "It fixed 12,000 bugs.")]
    [InlineData("He was born in 1990. 20 years later he won.", "He was born in 1990.", "20 years later he won.")]
    [InlineData("She was ranked No. 1 in the world. See Vol. 2, p. 17 for details.", "She was ranked No. 1 in the world.", "See Vol. 2, p. 17 for details.")]
    [InlineData("He said no. Then he left.", "He said no.", "Then he left.")]
    // ellipses
    [InlineData("Wait... what happened? Nobody knows.", "Wait... what happened?", "Nobody knows.")]
    [InlineData("He paused... Then he spoke.", "He paused...", "Then he spoke.")]
    [InlineData("It was over… Or was it?", "It was over…", "Or was it?")]
    [InlineData("It was fine . . . But then it broke.", "It was fine . . .", "But then it broke.")]
    [InlineData("Not just Medicare... ... but overall spending rose.", "Not just Medicare... ... but overall spending rose.")]
    // quotes and brackets after the terminator
    [InlineData("He said \"no.\" Then he left.", "He said \"no.\"", "Then he left.")]
    [InlineData("\"Why?\" he asked. \"Because.\" She smiled.", "\"Why?\" he asked.", "\"Because.\"", "She smiled.")]
    [InlineData("She called it “a disaster.” Officials disagreed.", "She called it “a disaster.”", "Officials disagreed.")]
    [InlineData("(See the annex.) The table lists all results.", "(See the annex.)", "The table lists all results.")]
    [InlineData("He wrote: 'It is done.' Nobody replied.", "He wrote: 'It is done.'", "Nobody replied.")]
    [InlineData("I've said, \"No, I can't do that. \" What I can promise is this.", "I've said, \"No, I can't do that. \"", "What I can promise is this.")]
    [InlineData("The firm (founded in 1990 by Mr. Roe) grew. It now employs 50.", "The firm (founded in 1990 by Mr. Roe) grew.", "It now employs 50.")]
    // no whitespace after the period: URLs, e-mail, domains, decimals
    [InlineData("Visit www.example.com/page.html or mail info@example.co.uk. We reply fast.", "Visit www.example.com/page.html or mail info@example.co.uk.", "We reply fast.")]
    [InlineData("The U.S.-China talks resumed. Markets rallied.", "The U.S.-China talks resumed.", "Markets rallied.")]
    [InlineData("See bbc.co.uk. BBC reported it first.", "See bbc.co.uk.", "BBC reported it first.")]
    // line breaks, headings, paragraphs, lists
    [InlineData("Markets Rally on Fed Hopes\nStocks rose on Monday. Bonds fell.", "Markets Rally on Fed Hopes", "Stocks rose on Monday.", "Bonds fell.")]
    [InlineData("WASHINGTON (Reuters) - The U.S. Senate on Tuesday passed a $1.2 trillion bill.", "WASHINGTON (Reuters) - The U.S. Senate on Tuesday passed a $1.2 trillion bill.")]
    [InlineData("First paragraph ends here\n\nSecond paragraph starts here.", "First paragraph ends here", "Second paragraph starts here.")]
    [InlineData("Windows line\r\nendings work.\r\n\r\nToo.", "Windows line", "endings work.", "Too.")]
    [InlineData("Key points:\n1. Revenue rose.\n2. Costs fell.\niv. Margins improved.", "Key points:", "1. Revenue rose.", "2. Costs fell.", "iv. Margins improved.")]
    [InlineData("- bullet one\n- bullet two", "- bullet one", "- bullet two")]
    [InlineData("By Jane Doe\nUpdated 3:45 p.m. ET\n\nThe storm hit Fla. The damage was severe.", "By Jane Doe", "Updated 3:45 p.m. ET", "The storm hit Fla.", "The damage was severe.")]
    // whitespace
    [InlineData("  Leading and trailing spaces.   Next one.  ", "Leading and trailing spaces.", "Next one.")]
    [InlineData("Tabs\tinside.\tAnd\tafter.", "Tabs\tinside.", "And\tafter.")]
    [InlineData("\uFEFFBOM first. Then text.", "BOM first.", "Then text.")]
    // SMS and claims style
    [InlineData("Ok lar... Joking wif u oni...", "Ok lar...", "Joking wif u oni...")]
    [InlineData("U dun say so early hor... U c already then say...", "U dun say so early hor...", "U c already then say...")]
    [InlineData("Free entry in 2 a wkly comp! Text WIN to 87121 now. T&C's apply", "Free entry in 2 a wkly comp!", "Text WIN to 87121 now.", "T&C's apply")]
    [InlineData("Great game!! 😀 See u at 8.", "Great game!!", "😀 See u at 8.")]
    [InlineData("We've run up more debt in the last eight years than in the previous 200. That's wrong.", "We've run up more debt in the last eight years than in the previous 200.", "That's wrong.")]
    // CJK
    [InlineData("今天天气很好。我们去公园吧！好吗？", "今天天气很好。", "我们去公园吧！", "好吗？")]
    public void Split_RealisticText_FindsSentences(string text, params string[] expected)
    {
        var ranges = new List<Range>();

        SentenceSplitter.Split(text, ranges);

        Assert.Equal(expected, ranges.Select(r => text[r]));
        AssertInvariants(text, ranges);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\n\n\r\n\t")]
    [InlineData("\u200B\uFEFF")]
    public void Split_NoText_AddsNothing(string text)
    {
        var ranges = new List<Range>();
        SentenceSplitter.Split(text, ranges);
        Assert.Empty(ranges);
    }

    [Theory]
    [InlineData("(", "A. ")]
    [InlineData(" ", "A. ")]
    [InlineData("\u201C", "1. ")]
    [InlineData("[ ", "B. A. ")]
    public void Split_255KBLineOfOpenersThenShortSentences_LinearTime(string opener, string sentence)
    {
        // Half the line openers or spaces, half short sentences. Splitting this took 24 s at 120 KB, and four
        // times that for each doubling, while every check after a period walked the openers from the start of the line.
        var text = string.Concat(Enumerable.Repeat(opener, 128 * 1024 / opener.Length)) + string.Concat(Enumerable.Repeat(sentence, 128 * 1024 / sentence.Length));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ranges = new List<Range>();

        SentenceSplitter.Split(text, ranges);

        log.WriteLine($"{ranges.Count} sentences in {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(ranges.Count > 10_000, $"{ranges.Count} sentences");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void Split_ExistingItems_AppendsWithoutClearing()
    {
        var ranges = new List<Range> { 3..4 };

        SentenceSplitter.Split("Yes. No", ranges);

        Assert.Equal([3..4, 0..4, 5..7], ranges);
    }

    [Fact]
    public void Split_SteadyState_AllocatesNothing()
    {
        const string text = "WASHINGTON (Reuters) - The U.S. Senate passed a $1.2 trillion bill, Sen. Smith said. "
            + "\"It's done.\" Apple Inc. rose 2.5% e.g. on Feb. 3.\n\nStocks Rally\nJ. F. Kennedy... Then what?";
        var ranges = new List<Range>(64);
        var allocated = long.MaxValue;
        for (var pass = 0; pass < 10 && allocated > 0; pass++) // early passes may run unoptimized code
        {
            ranges.Clear();
            var before = GC.GetAllocatedBytesForCurrentThread();
            SentenceSplitter.Split(text, ranges);
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(0, allocated);
        Assert.Equal(6, ranges.Count);
    }

    [Fact]
    public void Split_GeneratedText_CoversEveryNonWhitespaceCharacterOnce()
    {
        string[] pieces =
        [
            "Mr.", "U.S.", "e.g.", "etc.", "Inc.", "J.", "3.5", "$2.5bn", "No.", "1.", "...", "…", "?", "!", "?!", ".",
            "\"", "”", "(", ")", "'", "word", "The", "he", "Then", "www.x.com", "a.m.", "中文。", " ", " ", " ", "  ",
            "\t", "\n", "\r\n", "\n\n", "\u2029", "\u200B", "😀", "\uFEFF",
        ];
        var random = new Random(7);
        var text = new StringBuilder();
        var ranges = new List<Range>();
        for (var iteration = 0; iteration < 5000; iteration++)
        {
            text.Clear();
            for (var n = random.Next(1, 40); n > 0; n--)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            var s = text.ToString();
            ranges.Clear();
            SentenceSplitter.Split(s, ranges);
            AssertInvariants(s, ranges);
        }
    }

    [Fact]
    public void Split_ClaimBusterSentencesJoined_RecoversTheirBoundaries()
    {
        // ClaimBuster's sentences come from debate transcripts, split by the data set's authors. Joined with a
        // space per speaker turn, the splitter should find (nearly) all of their boundaries and few others.
        var path = SharedData("claims/claimbuster_groundtruth.csv");
        if (path is null)
        {
            log.WriteLine("shared/data/claims/claimbuster_groundtruth.csv not found: check skipped.");
            return;
        }

        var texts = File.ReadLines(path).Skip(1).Select(ClaimText).Where(t => t.Length > 0).ToList();
        int expected = 0, found = 0, extra = 0;
        var ranges = new List<Range>();
        for (var i = 0; i + 4 <= texts.Count; i += 4)
        {
            var group = texts.GetRange(i, 4);
            var joined = string.Join(' ', group);
            var boundaries = new HashSet<int>();
            var at = 0;
            foreach (var sentence in group.Take(3))
            {
                at += sentence.Length;
                boundaries.Add(at);
                at++;
            }

            ranges.Clear();
            SentenceSplitter.Split(joined, ranges);
            var ends = ranges.Take(ranges.Count - 1).Select(r => r.End.Value).ToHashSet();
            expected += boundaries.Count;
            found += boundaries.Count(ends.Contains);
            extra += ends.Count(e => !boundaries.Contains(e));
        }

        var recall = (double)found / expected;
        log.WriteLine($"ClaimBuster: {found}/{expected} boundaries found (recall {recall:P1}), {extra} extra splits");
        Assert.True(recall > 0.97, $"recall {recall:P1}");
        Assert.True(extra < expected / 10, $"{extra} extra splits");
    }

    // Sorted, disjoint, trimmed, within one line, and every non-whitespace character covered exactly once.
    private static void AssertInvariants(string text, List<Range> ranges)
    {
        var covered = new int[text.Length];
        var previousEnd = 0;
        foreach (var range in ranges)
        {
            var (start, length) = range.GetOffsetAndLength(text.Length);
            Check(start >= previousEnd && length > 0, text, $"{range} overlaps or is empty");
            Check(!IsSpace(text[start]) && !IsSpace(text[start + length - 1]), text, $"{range} is not trimmed");
            Check(text.AsSpan(start, length).IndexOfAny("\n\r\u2028\u2029") < 0, text, $"{range} crosses a line");
            for (var k = start; k < start + length; k++)
            {
                covered[k]++;
            }

            previousEnd = start + length;
        }

        for (var k = 0; k < text.Length; k++)
        {
            if (!IsSpace(text[k]) && covered[k] != 1)
            {
                Assert.Fail($"{Escape(text)}: char {k} covered {covered[k]} times");
            }
        }
    }

    // The text is serialized into the message only on failure: this runs for thousands of texts.
    private static void Check(bool condition, string text, string detail)
    {
        if (!condition)
        {
            Assert.Fail($"{Escape(text)}: {detail}");
        }
    }

    private static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is '\u200B' or '\u2060' or '\uFEFF';

    private static string Escape(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    // The Text column of a ClaimBuster CSV row (RFC 4180 quoting; no field spans lines).
    private static string ClaimText(string line)
    {
        var comma = line.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0 || comma + 1 >= line.Length)
        {
            return "";
        }

        if (line[comma + 1] != '"')
        {
            var end = line.IndexOf(',', comma + 1);
            return line[(comma + 1)..(end < 0 ? line.Length : end)];
        }

        var text = new StringBuilder();
        for (var k = comma + 2; k < line.Length; k++)
        {
            if (line[k] == '"')
            {
                if (k + 1 < line.Length && line[k + 1] == '"')
                {
                    text.Append('"');
                    k++;
                    continue;
                }

                break;
            }

            text.Append(line[k]);
        }

        return text.ToString();
    }

    private static string? SharedData(string relative) => Tokenization.TokenizerTestData.SharedDataPath(relative);
}
