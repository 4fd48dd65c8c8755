using StreamBert.Contracts;

namespace StreamBert.Review.Articles;

/// <summary>
/// An article as a reviewer sees it: its body, the processor's sentences (claims) and entities on it, and what reviewers
/// have said so far. Offsets are UTF-16 indexes into <see cref="Body"/>, end exclusive, as on the output topics.
/// </summary>
/// <param name="ClaimsModel">The model version whose claim labels are shown: the <c>model-version</c> of a claims label.</param>
/// <param name="EntitiesModel">The model version whose entities are shown: the <c>model-version</c> of an entities label.</param>
/// <param name="Arrival">Order of arrival in the window, for stable ordering and sampling.</param>
public sealed record ArticleItem(
    string Id,
    string? Title,
    string Body,
    IReadOnlyList<ReviewSentence> Sentences,
    IReadOnlyList<ReviewEntity> Entities,
    ModelRef ClaimsModel,
    ModelRef EntitiesModel,
    long Arrival)
{
    /// <summary>The sentence holding <c>[start, end)</c> whole, or null (a span across sentences is not one training example).</summary>
    public ReviewSentence? SentenceOf(int start, int end)
    {
        foreach (var sentence in Sentences)
        {
            if (start >= sentence.Start && end <= sentence.End)
            {
                return sentence;
            }
        }

        return null;
    }

    /// <summary>The entities inside <paramref name="sentence"/>, in text order.</summary>
    public IReadOnlyList<ReviewEntity> EntitiesIn(ReviewSentence sentence) =>
        [.. Entities.Where(e => e.Start >= sentence.Start && e.End <= sentence.End)];
}

/// <summary>A sentence with the model's claim label and score, and the reviewer's label once given.</summary>
/// <param name="Reviewed">The claim label a reviewer gave (here or on another desk), or null.</param>
/// <param name="EntitiesReviewed">A reviewer has written this sentence's entities: they are a reviewer's, not the model's.</param>
public sealed record ReviewSentence(int Start, int End, string Text, string Label, float Score, string? Reviewed = null, bool EntitiesReviewed = false);

/// <summary>An entity span; <see cref="Score"/> is null for one a reviewer added.</summary>
public sealed record ReviewEntity(int Start, int End, string Text, string Type, float? Score);
