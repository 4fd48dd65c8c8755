using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Inference;
using StreamBert.Processor.Postprocess;
using StreamBert.Processor.Preprocess;
using StreamBert.Processor.Tests.Poison;

namespace StreamBert.Processor.Tests.Pipeline;

/// <summary>The null engine's outputs have the served heads' shapes, so postprocessing builds real records from them.</summary>
public sealed class NullInferenceEngineTests
{
    private static readonly TopicNames Topics = new() { Messages = PreprocessProbe.Messages, Articles = PreprocessProbe.Articles };

    [Fact]
    public void Fill_ArticleSentences_ClaimsRecordPerSentenceAndEntitiesWithOffsetsIntoTheBody()
    {
        var probe = new PreprocessProbe();
        var body = "The senator said taxes rose by ten percent last year in Ohio and Texas. Critics disagree with the figures she cited. "
            + "Unemployment fell to four percent according to the Bureau of Labor Statistics in Washington.";
        var accepted = Assert.IsType<Accepted>(probe.Process(PreprocessProbe.Articles, JsonSerializer.SerializeToUtf8Bytes(new ArticleInput("a1", body))));
        var claims = Head(TaskNames.Claims, LabelSets.ClaimLabels, "sequence");
        var ner = Head(TaskNames.Ner, LabelSets.NerTags, "token");

        var positions = NullInferenceEngine.Fill(accepted.Document.Sequences, spam: null, claims, ner);

        Assert.Equal(accepted.Document.Sequences.Sum(s => s.Ids.Length), positions);
        Assert.All(accepted.Document.Sequences, s => Assert.Equal(s.Ids.Length * LabelSets.NerTags.Count, s.TagProbabilities!.Length));
        var set = new Postprocessor(new ProcessorOptions(), Topics, new DeadLetters(Topics, 1_000_000)).Build(accepted.Document);
        var claimsRecord = JsonSerializer.Deserialize<ClaimsOutput>(Assert.Single(set.Records, r => r.Topic == Topics.ArticlesClaims).Value)!;
        var entitiesRecord = JsonSerializer.Deserialize<EntitiesOutput>(Assert.Single(set.Records, r => r.Topic == Topics.ArticlesEntities).Value)!;

        Assert.Equal(accepted.Document.Sentences.Count, claimsRecord.Sentences.Count);
        Assert.All(claimsRecord.Sentences, s => Assert.Contains(s.Label, new[] { LabelSets.Claim, LabelSets.NoClaim }));
        Assert.Equal(claims.Model, claimsRecord.Model);
        Assert.NotEmpty(entitiesRecord.Entities);
        Assert.All(entitiesRecord.Entities, e =>
        {
            Assert.InRange(e.Start, 0, e.End - 1);
            Assert.Equal(body[e.Start..e.End], e.Text);
            Assert.Contains(e.Type, LabelSets.EntityTypes);
        });
    }

    [Fact]
    public void Fill_Messages_SpamScoresEitherSideOfTheServedThreshold()
    {
        var probe = new PreprocessProbe();
        var spam = Head(TaskNames.Spam, LabelSets.SpamLabels, "sequence");
        var scores = new HashSet<float>();
        for (var i = 0; i < 40; i++)
        {
            var accepted = Assert.IsType<Accepted>(probe.Process(PreprocessProbe.Messages, JsonSerializer.SerializeToUtf8Bytes(new MessageInput($"m{i}", $"message number {i} with some words"))));
            NullInferenceEngine.Fill(accepted.Document.Sequences, spam, claims: null, ner: null);
            var work = Assert.Single(accepted.Document.Sequences);
            Assert.Equal(spam.Model, work.SpamModel);
            Assert.Equal(TaskHead.DefaultThreshold, work.SpamThreshold);
            scores.Add(work.SpamScore);
        }

        Assert.Equal(new HashSet<float> { 0.25f, 0.75f }, scores);
    }

    private static TaskHead Head(string task, IReadOnlyList<string> labels, string kind)
    {
        var spec = new HeadSpec
        {
            Kind = kind,
            Labels = labels,
            Layers = [6],
            File = task + ".head",
        };
        return new TaskHead(task, spec, new DenseHead(384, 0, labels.Count), new ModelRef(task, "v7"), EncoderIndex: 0, MaxSequenceLength: 128);
    }
}
