using StreamBert.Training.Data;

namespace StreamBert.Training.Tests.Data;

public class CsvParserTests
{
    private static List<CsvRecord> Parse(string text, int maxLines = 100) =>
        CsvParser.ReadRecords(new StringReader(text), maxLinesPerRecord: maxLines).ToList();

    [Fact]
    public void ReadRecords_QuotedFields_UnescapesCommasQuotesAndLineBreaks()
    {
        var records = Parse("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",,\"\"\n");

        Assert.Equal(2, records.Count);
        Assert.Equal(["a", "b,c", "say \"hi\""], records[0].Fields);
        Assert.Equal(["multi\nline", "", ""], records[1].Fields);
        Assert.Equal((1L, 2L), (records[0].LineNumber, records[1].LineNumber));
        Assert.All(records, r => Assert.True(r.IsValid));
    }

    [Fact]
    public void ReadRecords_TrailingDelimiterAndEmptyLines_GiveEmptyFieldsAndNoRecords()
    {
        var records = Parse("x,\n\n,\n");

        Assert.Equal([["x", ""], ["", ""]], records.Select(r => r.Fields.ToArray()));
    }

    [Fact]
    public void ReadRecords_QuoteInsideUnquotedField_IsKeptLiterally()
    {
        Assert.Equal(["5'10\" tall", "ok"], Parse("5'10\" tall,ok").Single().Fields);
    }

    [Fact]
    public void ReadRecords_TextAfterClosingQuote_IsMalformed()
    {
        var records = Parse("\"ab\"c,d\nnext,row\n");

        Assert.False(records[0].IsValid);
        Assert.Contains("after the closing quote", records[0].Error, StringComparison.Ordinal);
        Assert.Equal(["next", "row"], records[1].Fields);
    }

    [Fact]
    public void ReadRecords_UnterminatedQuoteAtEnd_ReportsItAndRereadsTheFollowingLines()
    {
        var records = Parse("1,\"open\n2,two\n3,three\n");

        Assert.Equal(3, records.Count);
        Assert.Equal((1L, "unterminated quoted field"), (records[0].LineNumber, records[0].Error));
        Assert.Equal(["2", "two"], records[1].Fields);
        Assert.Equal(["3", "three"], records[2].Fields);
        Assert.Equal((2L, 3L), (records[1].LineNumber, records[2].LineNumber));
    }

    [Fact]
    public void ReadRecords_QuotedFieldLongerThanTheLineLimit_IsMalformed()
    {
        var records = Parse("\"a\nb\nc\"\nd\n", maxLines: 2);

        Assert.False(records[0].IsValid);
        // The lines after the first are read again on their own: b, then c" (a stray quote, kept), then d.
        Assert.Equal([["b"], ["c\""], ["d"]], records.Skip(1).Select(r => r.Fields.ToArray()));
    }
}
