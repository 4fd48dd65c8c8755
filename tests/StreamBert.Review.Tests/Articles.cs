using StreamBert.Contracts;

namespace StreamBert.Review.Tests;

/// <summary>Builds an article and the processor's outputs on it from marked phrases, with offsets found in the body.</summary>
internal sealed class Articles
{
    private readonly List<SentenceLabel> _sentences = [];
    private readonly List<EntitySpan> _entities = [];

    public Articles(string id, string body, string? title = null)
    {
        Input = new ArticleInput(id, body, title);
    }

    public ArticleInput Input { get; }

    public ModelRef ClaimsModel { get; init; } = new("claims", "v4");

    public ModelRef EntitiesModel { get; init; } = new("ner", "v2");

    public ClaimsOutput Claims => new(Input.Id, ClaimsModel, _sentences);

    public EntitiesOutput Entities => new(Input.Id, EntitiesModel, _entities);

    /// <summary>A sentence: the first occurrence of <paramref name="text"/> in the body; labelled claim at score ≥ 0.5.</summary>
    public Articles Sentence(string text, float score)
    {
        var start = Offset(text);
        _sentences.Add(new SentenceLabel(start, start + text.Length, text, score >= 0.5f ? LabelSets.Claim : LabelSets.NoClaim, score));
        return this;
    }

    public Articles Entity(string text, string type, float score)
    {
        var start = Offset(text);
        _entities.Add(new EntitySpan(start, start + text.Length, text, type, score));
        return this;
    }

    public int Offset(string text)
    {
        var start = Input.Body.IndexOf(text, StringComparison.Ordinal);
        return start >= 0 ? start : throw new ArgumentException($"'{text}' is not in the body");
    }
}
