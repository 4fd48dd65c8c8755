using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Review.Articles;
using StreamBert.Trainer;

namespace StreamBert.Review.Tests;

/// <summary>A reviewer's entity changes, and the label records they become, read back by the trainer's own parser.</summary>
public sealed class EntityEditsTests
{
    // "😀" is a surrogate pair and "Zoë"/"Łódź" are non-ASCII: UTF-16 offsets differ from UTF-8 bytes and from code points.
    private const string Body = "Intro 😀 line. Zoë Müller met 😀 Angela Merkel in Łódź. Rates fell.";

    [Fact]
    public void Add_SelectionAfterSurrogatePairs_WritesSentenceRelativeOffsetsTheTrainerAccepts()
    {
        var item = Item();
        var start = Body.IndexOf("Angela Merkel", StringComparison.Ordinal);

        var (edit, error) = EntityEdits.Add(item, start, start + "Angela Merkel".Length, "Angela Merkel", "PER");

        Assert.Null(error);
        var value = ArticleLabels.EntitiesValue(edit!.Sentence, edit.Entities);
        var label = JsonSerializer.Deserialize<EntitiesLabel>(value)!;
        Assert.Equal("Zoë Müller met 😀 Angela Merkel in Łódź.", label.Text);
        Assert.Equal([new EntityLabel(0, 10, "PER"), new EntityLabel(18, 31, "PER"), new EntityLabel(35, 39, "ORG")], label.Entities);
        Assert.Equal("Angela Merkel", label.Text[18..31]);

        var parsed = LabelParser.Parse(TaskNames.Ner, value, 256 * 1024);
        Assert.Null(parsed.Error);
        Assert.Equal(["Zoë", "Müller", "met", "😀", "Angela", "Merkel", "in", "Łódź", "."], parsed.Sentence!.Tokens);
        Assert.Equal(["B-PER", "I-PER", "O", "O", "B-PER", "I-PER", "O", "B-ORG", "O"], parsed.Sentence.Tags);
    }

    [Fact]
    public void Retype_AndDelete_KeepTheSentencesOtherEntities()
    {
        var item = Item();
        var lodz = Body.IndexOf("Łódź", StringComparison.Ordinal);
        var zoe = Body.IndexOf("Zoë Müller", StringComparison.Ordinal);

        var retyped = EntityEdits.Retype(item, lodz, lodz + 4, "LOC").Edit!;
        var deleted = EntityEdits.Delete(item, zoe, zoe + 10).Edit!;

        Assert.Equal([("Zoë Müller", "PER"), ("Łódź", "LOC")], retyped.Entities.Select(e => (e.Text, e.Type)));
        Assert.Equal([("Łódź", "ORG")], deleted.Entities.Select(e => (e.Text, e.Type)));
        Assert.Null(LabelParser.Parse(TaskNames.Ner, ArticleLabels.EntitiesValue(retyped.Sentence, retyped.Entities), 1 << 20).Error);
    }

    [Fact]
    public void Delete_TheLastEntity_WritesAnEmptyListTheTrainerAccepts()
    {
        var sentence = new ReviewSentence(0, 9, "Bo sings.", LabelSets.NoClaim, 0.1f);

        var value = ArticleLabels.EntitiesValue(sentence, []);

        Assert.Equal("""{"text":"Bo sings.","entities":[]}""", System.Text.Encoding.UTF8.GetString(value));
        Assert.Null(LabelParser.Parse(TaskNames.Ner, value, 1 << 20).Error);
    }

    [Fact]
    public void ClaimValue_IsTheSentenceTheTrainerAccepts()
    {
        var sentence = Item().Sentences[1];

        var value = ArticleLabels.ClaimValue(sentence, LabelSets.Claim);

        var parsed = LabelParser.Parse(TaskNames.Claims, value, 1 << 20);
        Assert.Null(parsed.Error);
        Assert.Equal(("Zoë Müller met 😀 Angela Merkel in Łódź.", "claim"), (parsed.Text!.Text, parsed.Text.Label));
    }

    [Theory]
    [InlineData("Müller met", "PER", "overlaps")]
    [InlineData("line. Zoë", "PER", "inside one sentence")]
    [InlineData("Rates", "TIME", "type must be one of")]
    [InlineData(" Rates", "ORG", "white space")]
    public void Add_ThatTheTrainerWouldRefuse_SaysWhy(string selected, string type, string why)
    {
        var start = Body.IndexOf(selected, StringComparison.Ordinal);

        var (edit, error) = EntityEdits.Add(Item(), start, start + selected.Length, selected, type);

        Assert.Null(edit);
        Assert.Contains(why, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_OffsetsThatDoNotMatchTheSelectedText_AreRefused()
    {
        var start = Body.IndexOf("Rates", StringComparison.Ordinal);

        Assert.Contains("does not match", EntityEdits.Add(Item(), start + 1, start + 6, "Rates", "ORG").Error, StringComparison.Ordinal);
        Assert.Contains("splits a character", EntityEdits.Add(Item(), 7, 12, Body[7..12], "MISC").Error, StringComparison.Ordinal);
    }

    private static ArticleItem Item()
    {
        var article = new Articles("a1", Body)
            .Sentence("Intro 😀 line.", 0.1f)
            .Sentence("Zoë Müller met 😀 Angela Merkel in Łódź.", 0.62f)
            .Sentence("Rates fell.", 0.7f)
            .Entity("Zoë Müller", "PER", 0.8f)
            .Entity("Łódź", "ORG", 0.35f);
        var queue = new ArticleQueue(10, 1 << 20, 0.5);
        queue.AddArticle(article.Input.Id, null, Body);
        queue.AddClaims(article.Claims);
        queue.AddEntities(article.Entities);
        return queue.Find("a1")!;
    }
}
