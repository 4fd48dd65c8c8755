using System.Globalization;
using System.Text.Json;
using StreamBert.Contracts;

namespace StreamBert.Review.Articles;

/// <summary>
/// The label records the articles page writes, one per sentence, because the trainer learns claims and entities from
/// sentences (as the processor scores them) and keeps the latest label per text:
/// <c>labels.claims</c> <c>{"text": sentence, "label"}</c> and <c>labels.entities</c>
/// <c>{"text": sentence, "entities": [{"start","end","type"}]}</c> with offsets into the sentence, every entity of it.
/// Both are keyed <c>ARTICLE#START-END</c> (the sentence's offsets in the article), which the feed reads back to
/// know what is already reviewed.
/// </summary>
public static class ArticleLabels
{
    public static string SentenceKey(string articleId, ReviewSentence sentence) =>
        string.Create(CultureInfo.InvariantCulture, $"{articleId}#{sentence.Start}-{sentence.End}");

    /// <summary>The article id and sentence offsets of a label key, or null for a key this desk did not write.</summary>
    public static (string ArticleId, int Start, int End)? ParseKey(string? key)
    {
        var hash = key?.LastIndexOf('#') ?? -1;
        if (key is null || hash <= 0)
        {
            return null;
        }

        var range = key.AsSpan(hash + 1);
        var dash = range.IndexOf('-');
        return dash > 0
            && int.TryParse(range[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            && int.TryParse(range[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var end)
            && start < end
            ? (key[..hash], start, end)
            : null;
    }

    public static byte[] ClaimValue(ReviewSentence sentence, string label) =>
        JsonSerializer.SerializeToUtf8Bytes(new TextLabel(sentence.Text, label));

    /// <summary><paramref name="entities"/> (inside <paramref name="sentence"/>, article offsets) as the sentence's entities label.</summary>
    public static EntitiesLabel Entities(ReviewSentence sentence, IEnumerable<ReviewEntity> entities) =>
        new(sentence.Text, [.. entities.OrderBy(e => e.Start).Select(e => new EntityLabel(e.Start - sentence.Start, e.End - sentence.Start, e.Type))]);

    public static byte[] EntitiesValue(ReviewSentence sentence, IEnumerable<ReviewEntity> entities) =>
        JsonSerializer.SerializeToUtf8Bytes(Entities(sentence, entities));
}

/// <summary>A reviewer's change to an article's entities: the sentence it touches and that sentence's entities after it.</summary>
public sealed record EntityEdit(ReviewSentence Sentence, IReadOnlyList<ReviewEntity> Entities);

/// <summary>
/// Applies a reviewer's entity change to an article, or says why it cannot be a label the trainer accepts (an entity
/// across sentences, overlapping another, splitting a surrogate pair, or text that is not the article's at those offsets).
/// </summary>
public static class EntityEdits
{
    public static (EntityEdit? Edit, string? Error) Retype(ArticleItem item, int start, int end, string type)
    {
        if (!LabelSets.EntityTypes.Contains(type, StringComparer.Ordinal))
        {
            return (null, $"type must be one of {string.Join(", ", LabelSets.EntityTypes)}.");
        }

        return Change(item, start, end, e => e with { Type = type, Score = null });
    }

    public static (EntityEdit? Edit, string? Error) Delete(ArticleItem item, int start, int end) => Change(item, start, end, _ => null);

    /// <summary>
    /// The sentence <c>[start, end)</c> with its entities as they are: a reviewer saying the model (or an earlier
    /// reviewer) got them right, which is a label like any edit, an empty list included (the sentence has none).
    /// </summary>
    public static (EntityEdit? Edit, string? Error) Confirm(ArticleItem item, int start, int end) =>
        item.Sentences.FirstOrDefault(s => s.Start == start && s.End == end) is { } sentence
            ? (new EntityEdit(sentence, item.EntitiesIn(sentence)), null)
            : (null, $"The article has no sentence at [{start}, {end}) any more: reload the page.");

    /// <summary>Adds <c>[start, end)</c> as a <paramref name="type"/> entity; <paramref name="text"/> is what the reviewer selected and must be the article's text there.</summary>
    public static (EntityEdit? Edit, string? Error) Add(ArticleItem item, int start, int end, string text, string type)
    {
        if (!LabelSets.EntityTypes.Contains(type, StringComparer.Ordinal))
        {
            return (null, $"type must be one of {string.Join(", ", LabelSets.EntityTypes)}.");
        }

        if (start < 0 || end <= start || end > item.Body.Length)
        {
            return (null, $"[{start}, {end}) is not a non-empty range of the article's {item.Body.Length} characters.");
        }

        if (!item.Body.AsSpan(start, end - start).SequenceEqual(text))
        {
            return (null, "The selection does not match the article's text at its offsets: reload the page and select again.");
        }

        if (text.AsSpan().Trim().Length != text.Length)
        {
            return (null, "An entity does not start or end with white space: select the words only.");
        }

        if (char.IsLowSurrogate(item.Body[start]) || (end < item.Body.Length && char.IsLowSurrogate(item.Body[end])))
        {
            return (null, "The selection splits a character (a surrogate pair).");
        }

        if (item.SentenceOf(start, end) is not { } sentence)
        {
            return (null, "An entity must lie inside one sentence.");
        }

        var entities = item.EntitiesIn(sentence);
        if (entities.FirstOrDefault(e => start < e.End && end > e.Start) is { } overlapped)
        {
            return (null, $"The selection overlaps the entity \"{overlapped.Text}\": change or delete that one instead.");
        }

        return (new EntityEdit(sentence, [.. entities.Append(new ReviewEntity(start, end, text, type, null)).OrderBy(e => e.Start)]), null);
    }

    private static (EntityEdit? Edit, string? Error) Change(ArticleItem item, int start, int end, Func<ReviewEntity, ReviewEntity?> change)
    {
        if (item.Entities.FirstOrDefault(e => e.Start == start && e.End == end) is not { } entity)
        {
            return (null, $"The article has no entity at [{start}, {end}) any more: reload the page.");
        }

        if (item.SentenceOf(entity.Start, entity.End) is not { } sentence)
        {
            return (null, "The entity does not lie inside one sentence.");
        }

        var entities = new List<ReviewEntity>();
        foreach (var e in item.EntitiesIn(sentence))
        {
            if (e != entity)
            {
                entities.Add(e);
            }
            else if (change(e) is { } changed)
            {
                entities.Add(changed);
            }
        }

        return (new EntityEdit(sentence, entities), null);
    }
}
