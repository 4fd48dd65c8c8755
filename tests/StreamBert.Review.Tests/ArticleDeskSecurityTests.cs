using System.Net;
using StreamBert.Contracts;
using StreamBert.Kafka.Tests;

namespace StreamBert.Review.Tests;

/// <summary>What the articles page refuses, over plain HTTP: label posts without the antiforgery token, and anyone without the access token.</summary>
public sealed class ArticleDeskSecurityTests(EmbeddedKafkaFixture kafka) : IClassFixture<EmbeddedKafkaFixture>
{
    [Fact]
    public async Task LabelPosts_WithoutAntiforgeryToken_Are400AndWriteNothing()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var id = $"art-{Guid.NewGuid():N}";
        var article = new Articles(id, "Bo met Al in Rome.").Sentence("Bo met Al in Rome.", 0.5f).Entity("Rome", "LOC", 0.4f);
        await desk.ProduceAsync(article);
        await desk.ArticleQueuedAsync(id);
        using var http = new HttpClient { BaseAddress = desk.Address };

        using var claim = Form(("id", id), ("start", "0"), ("end", "18"), ("label", LabelSets.Claim), ("reviewer", "mallory"));
        using var claimResponse = await http.PostAsync("/articles/claim", claim);
        using var entity = Form(("id", id), ("op", "add"), ("start", "0"), ("end", "2"), ("text", "Bo"), ("type", "PER"), ("reviewer", "mallory"));
        using var entityResponse = await http.PostAsync("/articles/entity", entity);
        using var delete = Form(("id", id), ("op", "delete"), ("start", "13"), ("end", "17"), ("reviewer", "mallory"));
        using var deleteResponse = await http.PostAsync("/articles/entity", delete);
        using var confirm = Form(("id", id), ("op", "confirm"), ("start", "0"), ("end", "18"), ("reviewer", "mallory"));
        using var confirmResponse = await http.PostAsync("/articles/entity", confirm);

        Assert.Equal(
            [HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.BadRequest],
            new[] { claimResponse.StatusCode, entityResponse.StatusCode, deleteResponse.StatusCode, confirmResponse.StatusCode });
        var item = desk.ArticleQueue.Find(id)!;
        Assert.Null(item.Sentences[0].Reviewed);
        Assert.False(item.Sentences[0].EntitiesReviewed);
        Assert.Equal(["Rome"], item.Entities.Select(e => e.Text));
        Assert.Empty(desk.ReadLabels(desk.ArticleTopic.LabelsClaims, 1, TimeSpan.FromSeconds(2)));
        Assert.Empty(desk.ReadLabels(desk.ArticleTopic.LabelsEntities, 1, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task Feed_LabelsAlreadyOnTheTopics_ShowTheSentenceReviewedWithTheReviewersEntities()
    {
        await using var desk = await RunningDesk.StartAsync(kafka);
        var id = $"art-{Guid.NewGuid():N}";
        var article = new Articles(id, "Bo met Al in Rome. Rain fell.").Sentence("Bo met Al in Rome.", 0.5f).Sentence("Rain fell.", 0.3f).Entity("Rome", "ORG", 0.4f);
        await desk.ProduceLabelAsync(desk.ArticleTopic.LabelsClaims, $"{id}#0-18", new TextLabel("Bo met Al in Rome.", LabelSets.NoClaim));
        await desk.ProduceLabelAsync(desk.ArticleTopic.LabelsEntities, $"{id}#0-18", new EntitiesLabel("Bo met Al in Rome.", [new EntityLabel(0, 2, "PER"), new EntityLabel(13, 17, "LOC")]));
        await desk.ProduceAsync(article);

        var item = await desk.ArticleQueuedAsync(id);
        for (var i = 0; i < 100 && item.Sentences[0].Reviewed is null; i++)
        {
            // The label topics may be read after the article: the queue applies them whenever they come.
            await Task.Delay(50);
            item = desk.ArticleQueue.Find(id)!;
        }

        Assert.Equal((LabelSets.NoClaim, true), (item.Sentences[0].Reviewed, item.Sentences[0].EntitiesReviewed));
        Assert.Equal([("Bo", "PER"), ("Rome", "LOC")], item.Entities.Select(e => (e.Text, e.Type)));
        Assert.Null(item.Sentences[1].Reviewed);
    }

    [Fact]
    public async Task ArticlesPage_WithToken_RefusesRequestsWithoutIt()
    {
        await using var desk = await RunningDesk.StartAsync(kafka, token: "s3cret-token");
        using var http = new HttpClient { BaseAddress = desk.Address };

        using var page = await http.GetAsync("/articles");
        using var form = Form(("id", "x"), ("op", "delete"), ("start", "0"), ("end", "1"));
        using var post = await http.PostAsync("/articles/entity", form);

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized), (page.StatusCode, post.StatusCode));
    }

    private static FormUrlEncodedContent Form(params (string Key, string Value)[] fields) =>
        new(fields.Select(f => KeyValuePair.Create(f.Key, f.Value)));
}
