using System.Text;
using System.Xml.Linq;
using StreamBert.Contracts;
using StreamBert.Review.Articles;
using StreamBert.Review.Web;

namespace StreamBert.Review.Tests;

/// <summary>
/// The highlighted body is read back as XML (the encoder writes only XML's own entities and numeric references): its
/// text must be the body exactly, and each element's text the body between its offsets.
/// </summary>
public sealed class ArticleHighlighterTests
{
    [Fact]
    public void Render_NonAsciiAndSurrogatePairs_TextIsTheBodyAndEachMarkItsExactSlice()
    {
        const string Body = "Ünïcode 𝒳 first. Zoë 😀😀 met Łódź\u00A0Bank in 東京.\r\nLast 👩‍👩‍👧 line.";
        var sentences = Sentences(Body, "Ünïcode 𝒳 first.", "Zoë 😀😀 met Łódź\u00A0Bank in 東京.", "Last 👩‍👩‍👧 line.");
        var entities = Entities(Body, ("Zoë", "PER"), ("Łódź\u00A0Bank", "ORG"), ("東京", "LOC"), ("👩‍👩‍👧", "MISC"));

        var root = Render(Body, sentences, entities);

        Assert.Equal(Body, root.Value);
        AssertSlices(root, "mark", Body, entities.Select(e => (e.Start, e.End)));
        AssertSlices(root, "span", Body, sentences.Select(s => (s.Start, s.End)));
    }

    [Fact]
    public void Render_EntityInsideAClaimSentence_IsNestedInIt()
    {
        const string Body = "Sales rose 5% at Acme Corp. Weather fine.";
        var sentences = Sentences(Body, "Sales rose 5% at Acme Corp.", "Weather fine.");
        var entities = Entities(Body, ("Acme Corp", "ORG"));

        var root = Render(Body, sentences, entities);

        var claim = root.Elements("span").First();
        Assert.Equal("sentence claim", (string?)claim.Attribute("class"));
        var mark = Assert.Single(claim.Elements("mark"));
        Assert.Equal(("Acme Corp", "entity entity-ORG", "17", "26"), (mark.Value, (string?)mark.Attribute("class"), (string?)mark.Attribute("data-start"), (string?)mark.Attribute("data-end")));
        Assert.Equal("sentence no-claim", (string?)root.Elements("span").Last().Attribute("class"));
        Assert.Equal(Body, root.Value);
    }

    [Fact]
    public void Render_EntityAcrossASentenceBoundary_IsClosedAndReopenedAndStaysExact()
    {
        const string Body = "One two. Three four.";
        var sentences = Sentences(Body, "One two.", "Three four.");
        var entities = Entities(Body, ("two. Three", "MISC"));

        var root = Render(Body, sentences, entities);

        var pieces = root.Descendants("mark").ToList();
        Assert.Equal(["two.", " ", "Three"], pieces.Select(p => p.Value));
        Assert.Equal(["span", "root", "span"], pieces.Select(p => p.Parent!.Name.LocalName));
        Assert.All(pieces, p => Assert.Equal("4", (string?)p.Attribute("data-start")));
        AssertSlices(root, "mark", Body, entities.Select(e => (e.Start, e.End)));
        Assert.Equal(Body, root.Value);
    }

    [Fact]
    public void Render_MarkupInTheText_IsEncodedNeverParsed()
    {
        const string Body = "Hi <script>alert(1)</script> & <img src=x onerror=\"alert(2)\"> said Eve.";
        var sentences = Sentences(Body, Body);
        var entities = Entities(Body, ("<img src=x", "MISC"), ("Eve", "PER"));

        var html = new StringBuilder();
        ArticleHighlighter.Render(html, Body, sentences, entities);

        Assert.DoesNotContain("<script", html.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("<img", html.ToString(), StringComparison.Ordinal);
        var root = XElement.Parse("<root>" + html + "</root>");
        Assert.DoesNotContain(root.Descendants(), e => e.Name.LocalName is not ("span" or "mark"));
        Assert.Equal(Body, root.Value);
        AssertSlices(root, "mark", Body, entities.Select(e => (e.Start, e.End)));
    }

    private static XElement Render(string body, IReadOnlyList<ReviewSentence> sentences, IReadOnlyList<ReviewEntity> entities)
    {
        var html = new StringBuilder();
        ArticleHighlighter.Render(html, body, sentences, entities);
        return XElement.Parse("<root>" + html + "</root>", LoadOptions.PreserveWhitespace);
    }

    /// <summary>The text of all <paramref name="element"/> pieces with the same offsets, joined, is the body between them.</summary>
    private static void AssertSlices(XElement root, string element, string body, IEnumerable<(int Start, int End)> expected)
    {
        var found = root.Descendants(element)
            .GroupBy(e => (Start: int.Parse((string)e.Attribute("data-start")!), End: int.Parse((string)e.Attribute("data-end")!)))
            .ToDictionary(g => g.Key, g => string.Concat(g.Select(e => e.Value)));
        Assert.Equal(expected.OrderBy(e => e.Start), found.Keys.OrderBy(k => k.Start));
        foreach (var ((start, end), text) in found)
        {
            Assert.Equal(body[start..end], text);
        }
    }

    private static List<ReviewSentence> Sentences(string body, params string[] texts) =>
        [.. texts.Select(t => (Start: body.IndexOf(t, StringComparison.Ordinal), Text: t))
            .Select((s, i) => new ReviewSentence(s.Start, s.Start + s.Text.Length, s.Text, i == 0 ? LabelSets.Claim : LabelSets.NoClaim, 0.6f))];

    private static List<ReviewEntity> Entities(string body, params (string Text, string Type)[] entities) =>
        [.. entities.Select(e => (Start: body.IndexOf(e.Text, StringComparison.Ordinal), e.Text, e.Type))
            .Select(e => new ReviewEntity(e.Start, e.Start + e.Text.Length, e.Text, e.Type, 0.5f))];
}
