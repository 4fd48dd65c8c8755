using StreamBert.Contracts;
using StreamBert.Review.Articles;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Tests;

public sealed class ArticleQueueTests
{
    [Fact]
    public void Take_Useful_ArticleWithTheLeastConfidentUnreviewedItemFirst()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        Add(queue, new Articles("sure", "Paris is big. It rains.").Sentence("Paris is big.", 0.97f).Sentence("It rains.", 0.02f).Entity("Paris", "LOC", 0.99f));
        Add(queue, new Articles("claim-near-threshold", "Taxes rose 5%. Nice day.").Sentence("Taxes rose 5%.", 0.53f).Sentence("Nice day.", 0.1f));
        Add(queue, new Articles("weak-entity", "Acme hired Bo. Fine.").Sentence("Acme hired Bo.", 0.9f).Sentence("Fine.", 0.05f).Entity("Acme", "ORG", 0.31f).Entity("Bo", "PER", 0.9f));

        var order = queue.Take(QueueMode.Uncertain, 10);

        Assert.Equal(["weak-entity", "claim-near-threshold", "sure"], order.Select(i => i.Id));
        Assert.Equal(0.31, queue.Confidence(order[0]), 5);
        Assert.Equal(0.53, queue.Confidence(order[1]), 5);
    }

    [Fact]
    public void Take_Useful_MeasuresClaimsFromTheConfiguredThreshold()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.9);
        Add(queue, new Articles("half", "A said B.").Sentence("A said B.", 0.5f));
        Add(queue, new Articles("near", "C said D.").Sentence("C said D.", 0.88f));

        Assert.Equal("near", queue.Take(QueueMode.Uncertain, 1).Single().Id);
    }

    [Fact]
    public void Take_Useful_ReviewedItemsNoLongerCount()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        var a = new Articles("a", "Coin toss here. Sure thing.").Sentence("Coin toss here.", 0.5f).Sentence("Sure thing.", 0.95f);
        Add(queue, a);
        Add(queue, new Articles("b", "Leaning claim.").Sentence("Leaning claim.", 0.7f));
        Assert.Equal("a", queue.Take(QueueMode.Uncertain, 1).Single().Id);

        queue.AddClaimLabel(ArticleLabels.SentenceKey("a", queue.Find("a")!.Sentences[0]), LabelSets.NoClaim);

        Assert.Equal(["b", "a"], queue.Take(QueueMode.Uncertain, 10).Select(i => i.Id));
        Assert.Equal(LabelSets.NoClaim, queue.Find("a")!.Sentences[0].Reviewed);
    }

    [Fact]
    public void ConfirmEntities_ConfirmedSentenceNoLongerCounts_AndAFullyReviewedArticleLeavesTheQueue()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        Add(queue, new Articles("x", "Acme hired Bo. Rain.").Sentence("Acme hired Bo.", 0.9f).Sentence("Rain.", 0.05f).Entity("Acme", "ORG", 0.31f).Entity("Bo", "PER", 0.9f));
        Add(queue, new Articles("y", "Leaning claim.").Sentence("Leaning claim.", 0.7f));
        Assert.Equal("x", queue.Take(QueueMode.Uncertain, 1).Single().Id);

        var (edit, error) = EntityEdits.Confirm(queue.Find("x")!, 0, 14);
        Assert.Null(error);
        var label = ArticleLabels.Entities(edit!.Sentence, edit.Entities);
        Assert.Equal("Acme hired Bo.", label.Text);
        Assert.Equal([new EntityLabel(0, 4, "ORG"), new EntityLabel(11, 13, "PER")], label.Entities);
        queue.AddEntitiesLabel(ArticleLabels.SentenceKey("x", edit.Sentence), label);

        var item = queue.Find("x")!;
        Assert.True(item.Sentences[0].EntitiesReviewed);
        Assert.Equal([("Acme", "ORG"), ("Bo", "PER")], item.Entities.Select(e => (e.Text, e.Type)));
        Assert.Equal(0.9, queue.Confidence(item), 5);
        Assert.Equal(["y", "x"], queue.Take(QueueMode.Uncertain, 10).Select(i => i.Id));

        queue.AddClaimLabel("x#0-14", LabelSets.Claim);
        Assert.NotNull(queue.Find("x"));
        queue.AddClaimLabel("x#15-20", LabelSets.NoClaim);
        Assert.Null(queue.Find("x"));
    }

    [Fact]
    public void ConfirmEntities_OffsetsOfNoSentence_AreRefused()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        Add(queue, new Articles("x", "Bo met Al. Rain.").Sentence("Bo met Al.", 0.6f).Entity("Bo", "PER", 0.8f));

        var (edit, error) = EntityEdits.Confirm(queue.Find("x")!, 0, 9);

        Assert.Null(edit);
        Assert.Contains("no sentence at [0, 9)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Take_Random_SameSeedSameSample_OtherSeedOtherOrder()
    {
        var queue = new ArticleQueue(capacity: 100, maxBytes: 1 << 20, threshold: 0.5);
        for (var i = 0; i < 30; i++)
        {
            Add(queue, new Articles($"a{i}", $"Sentence {i}.").Sentence($"Sentence {i}.", i / 30f));
        }

        var first = queue.Take(QueueMode.Random, 10, seed: 7).Select(i => i.Id).ToList();

        Assert.Equal(first, queue.Take(QueueMode.Random, 10, seed: 7).Select(i => i.Id));
        Assert.NotEqual(first, queue.Take(QueueMode.Random, 10, seed: 8).Select(i => i.Id));
        Assert.NotEqual(queue.Take(QueueMode.Uncertain, 10).Select(i => i.Id), first);
    }

    [Fact]
    public void Add_BeyondCapacity_DropsTheSurestArticle()
    {
        var queue = new ArticleQueue(capacity: 2, maxBytes: 1 << 20, threshold: 0.5);
        Add(queue, new Articles("a", "One.").Sentence("One.", 0.55f));
        Add(queue, new Articles("surest", "Two.").Sentence("Two.", 0.999f));
        Add(queue, new Articles("c", "Three.").Sentence("Three.", 0.4f));

        Assert.Equal(2, queue.Count);
        Assert.Null(queue.Find("surest"));
    }

    [Fact]
    public void Add_BeyondTheByteBudget_DropsTheSurestArticle()
    {
        var body = new string('x', 2000) + ".";
        var queue = new ArticleQueue(capacity: 100, maxBytes: 20_000, threshold: 0.5);
        Add(queue, new Articles("sure", body).Sentence(body, 0.99f));
        Add(queue, new Articles("unsure", body).Sentence(body, 0.51f));
        Add(queue, new Articles("newest", body).Sentence(body, 0.7f));

        Assert.Equal(2, queue.Count);
        Assert.Null(queue.Find("sure"));
    }

    [Fact]
    public void Join_OutputsBeforeTheArticle_QueueWhenAllThreeArrived()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        var article = new Articles("x", "Bo met Al.").Sentence("Bo met Al.", 0.6f).Entity("Bo", "PER", 0.8f);

        Assert.Equal(JoinResult.Waiting, queue.AddEntities(article.Entities));
        Assert.Equal(JoinResult.Waiting, queue.AddClaims(article.Claims));
        Assert.Null(queue.Find("x"));
        Assert.Equal(JoinResult.Queued, queue.AddArticle("x", "T", article.Input.Body));

        var item = queue.Find("x")!;
        Assert.Equal(("T", "v4", "v2"), (item.Title, item.ClaimsModel.Version, item.EntitiesModel.Version));
        Assert.Equal([(0, 2, "PER")], item.Entities.Select(e => (e.Start, e.End, e.Type)));
    }

    [Fact]
    public void Join_OutputThatDoesNotFitTheBody_IsNotQueued()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        var article = new Articles("x", "Bo met Al.").Sentence("Bo met Al.", 0.6f);
        queue.AddClaims(article.Claims);
        queue.AddEntities(new EntitiesOutput("x", new ModelRef("ner", "v1"), [new EntitySpan(7, 9, "Bo", "PER", 0.5f)]));

        Assert.Equal(JoinResult.Mismatch, queue.AddArticle("x", null, article.Input.Body));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void Labels_BeforeTheArticle_AreAppliedWhenItArrives_AndAFullyReviewedArticleIsNotQueued()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        var article = new Articles("x", "Bo met Al. Rain.").Sentence("Bo met Al.", 0.6f).Sentence("Rain.", 0.2f).Entity("Bo", "PER", 0.8f);
        queue.AddClaimLabel("x#0-10", LabelSets.Claim);
        queue.AddEntitiesLabel("x#0-10", new EntitiesLabel("Bo met Al.", [new EntityLabel(0, 2, "ORG"), new EntityLabel(7, 9, "PER")]));

        Add(queue, article);

        var item = queue.Find("x")!;
        Assert.Equal((LabelSets.Claim, true), (item.Sentences[0].Reviewed, item.Sentences[0].EntitiesReviewed));
        Assert.Equal([(0, 2, "Bo", "ORG"), (7, 9, "Al", "PER")], item.Entities.Select(e => (e.Start, e.End, e.Text, e.Type)));

        queue.AddClaimLabel("x#11-16", LabelSets.NoClaim);

        Assert.Null(queue.Find("x"));
    }

    [Fact]
    public void AddClaims_NewerOutputForAQueuedArticle_ReplacesScoresAndKeepsReviews()
    {
        var queue = new ArticleQueue(capacity: 10, maxBytes: 1 << 20, threshold: 0.5);
        var v1 = new Articles("x", "Bo met Al. Rain.").Sentence("Bo met Al.", 0.6f).Sentence("Rain.", 0.2f).Entity("Bo", "PER", 0.8f);
        Add(queue, v1);
        queue.AddEntitiesLabel("x#0-10", new EntitiesLabel("Bo met Al.", [new EntityLabel(7, 9, "PER")]));

        var v2 = new Articles("x", v1.Input.Body) { ClaimsModel = new ModelRef("claims", "v5") }.Sentence("Bo met Al.", 0.9f).Sentence("Rain.", 0.45f);
        Assert.Equal(JoinResult.Queued, queue.AddClaims(v2.Claims));

        var item = queue.Find("x")!;
        Assert.Equal("v5", item.ClaimsModel.Version);
        Assert.Equal([0.9f, 0.45f], item.Sentences.Select(s => s.Score));
        Assert.Equal([("Al", "PER")], item.Entities.Select(e => (e.Text, e.Type)));
        Assert.True(item.Sentences[0].EntitiesReviewed);
    }

    [Fact]
    public void ParseKey_RoundTripsAndRefusesOtherKeys()
    {
        Assert.Equal(("a#b", 3, 17), ArticleLabels.ParseKey(ArticleLabels.SentenceKey("a#b", new ReviewSentence(3, 17, "t", LabelSets.Claim, 0.5f))));
        Assert.Null(ArticleLabels.ParseKey("msg-1"));
        Assert.Null(ArticleLabels.ParseKey("a#5-2"));
        Assert.Null(ArticleLabels.ParseKey("a#-1-4"));
    }

    private static void Add(ArticleQueue queue, Articles article)
    {
        queue.AddArticle(article.Input.Id, article.Input.Title, article.Input.Body);
        queue.AddClaims(article.Claims);
        queue.AddEntities(article.Entities);
    }
}
