using StreamBert.Contracts;
using StreamBert.Review.Spam;

namespace StreamBert.Review.Articles;

/// <summary>Why a joined article could not be queued: its outputs do not describe its body.</summary>
public enum JoinResult
{
    Waiting,
    Queued,
    Reviewed,
    Mismatch,
}

/// <summary>
/// The bounded window of articles awaiting review. The article (<c>articles</c>), its claims
/// (<c>articles.claims</c>) and its entities (<c>articles.entities</c>) arrive on three topics in no particular order;
/// they wait in a byte-bounded map until all three are there, and become an item. Reviewers' labels
/// (<c>labels.claims</c>, <c>labels.entities</c>, keyed per sentence) mark sentences reviewed, whether they arrive
/// before or after the article. Most useful first means the article whose least confident unreviewed output is least
/// confident: a claim sentence scores <c>0.5 + |score − threshold|</c> (the chosen label's probability at threshold
/// 0.5, the same scale at any other), an entity its own score; an article with nothing left to review leaves the queue.
/// Thread-safe: the feed's consume thread writes, request threads read and change.
/// </summary>
public sealed class ArticleQueue
{
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly long _maxBytes;
    private readonly double _threshold;
    private readonly Dictionary<string, ArticleItem> _items = new(StringComparer.Ordinal);
    private readonly RecentMap<Pending> _pending;
    private readonly RecentMap<string> _claimLabels;
    private readonly RecentMap<EntitiesLabel> _entityLabels;
    private long _bytes;
    private long _arrivals;

    public ArticleQueue(int capacity, long maxBytes, double threshold)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        _capacity = capacity;
        _maxBytes = maxBytes;
        _threshold = threshold;

        // Halves wait for each other within a few windows' worth; labels are small and kept for more articles than the window.
        _pending = new RecentMap<Pending>(capacity * 4, p => p.Bytes, maxBytes);
        _claimLabels = new RecentMap<string>(capacity * 64);
        _entityLabels = new RecentMap<EntitiesLabel>(capacity * 64, l => 2L * l.Text.Length, maxBytes);
    }

    public double Threshold => _threshold;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _items.Count;
            }
        }
    }

    public JoinResult AddArticle(string id, string? title, string body) => Join(id, p => p with { Title = title, Body = body });

    public JoinResult AddClaims(ClaimsOutput claims) => Join(claims.Id, p => p with { Claims = claims });

    public JoinResult AddEntities(EntitiesOutput entities) => Join(entities.Id, p => p with { Entities = entities });

    /// <summary>A claims label for the sentence <paramref name="key"/> names (from this desk or another).</summary>
    public void AddClaimLabel(string key, string label)
    {
        if (ArticleLabels.ParseKey(key) is not { } at)
        {
            return;
        }

        lock (_lock)
        {
            _claimLabels.Set(key, label);
            if (_items.TryGetValue(at.ArticleId, out var item))
            {
                Store(Apply(item, key, at.Start, at.End));
            }
        }
    }

    /// <summary>An entities label for the sentence <paramref name="key"/> names: its entities become the reviewer's.</summary>
    public void AddEntitiesLabel(string key, EntitiesLabel label)
    {
        if (ArticleLabels.ParseKey(key) is not { } at)
        {
            return;
        }

        lock (_lock)
        {
            _entityLabels.Set(key, label);
            if (_items.TryGetValue(at.ArticleId, out var item))
            {
                Store(Apply(item, key, at.Start, at.End));
            }
        }
    }

    public ArticleItem? Find(string id)
    {
        lock (_lock)
        {
            return _items.GetValueOrDefault(id);
        }
    }

    /// <summary>The first <paramref name="count"/> articles in <paramref name="mode"/>'s order; <paramref name="seed"/> fixes the random sample.</summary>
    public IReadOnlyList<ArticleItem> Take(QueueMode mode, int count, int seed = 0)
    {
        ArticleItem[] snapshot;
        lock (_lock)
        {
            snapshot = [.. _items.Values];
        }

        Array.Sort(snapshot, (a, b) => a.Arrival.CompareTo(b.Arrival));
        if (mode == QueueMode.Random)
        {
            new Random(seed).Shuffle(snapshot);
        }
        else
        {
            snapshot = [.. snapshot.OrderBy(Confidence)];
        }

        return snapshot.Length <= count ? snapshot : snapshot[..count];
    }

    /// <summary>How sure the model is of the article's least sure unreviewed output (lower: more useful to review); 1 when nothing is left.</summary>
    public double Confidence(ArticleItem item)
    {
        var least = 1.0;
        foreach (var sentence in item.Sentences)
        {
            if (sentence.Reviewed is null)
            {
                least = Math.Min(least, SentenceConfidence(sentence));
            }

            if (!sentence.EntitiesReviewed)
            {
                foreach (var entity in item.EntitiesIn(sentence))
                {
                    least = Math.Min(least, entity.Score ?? 1.0);
                }
            }
        }

        return least;
    }

    public double SentenceConfidence(ReviewSentence sentence) => Math.Min(1.0, 0.5 + Math.Abs(sentence.Score - _threshold));

    private JoinResult Join(string id, Func<Pending, Pending> add)
    {
        lock (_lock)
        {
            if (_items.TryGetValue(id, out var queued))
            {
                // A newer output for a queued article (reprocessing, a new model): rebuilt from it, reviews kept.
                var again = add(new Pending(queued.Title, queued.Body, null, null));
                if (again.Claims is null && again.Entities is null)
                {
                    return JoinResult.Queued;
                }

                _pending.Set(id, again with
                {
                    Claims = again.Claims ?? new ClaimsOutput(id, queued.ClaimsModel, [.. queued.Sentences.Select(s => new SentenceLabel(s.Start, s.End, s.Text, s.Label, s.Score))]),
                    Entities = again.Entities ?? new EntitiesOutput(id, queued.EntitiesModel, [.. queued.Entities.Where(e => e.Score is not null).Select(e => new EntitySpan(e.Start, e.End, e.Text, e.Type, e.Score!.Value))]),
                });
                Remove(id);
            }
            else
            {
                _pending.Set(id, add(_pending.TryGet(id, out var pending) ? pending : new Pending(null, null, null, null)));
            }

            if (!_pending.TryGet(id, out var joined) || joined.Body is null || joined.Claims is null || joined.Entities is null)
            {
                return JoinResult.Waiting;
            }

            _pending.Remove(id);
            if (Build(id, joined, _arrivals++) is not { } item)
            {
                return JoinResult.Mismatch;
            }

            foreach (var sentence in item.Sentences)
            {
                var key = ArticleLabels.SentenceKey(id, sentence);
                item = Apply(item, key, sentence.Start, sentence.End);
            }

            return Store(item) ? JoinResult.Queued : JoinResult.Reviewed;
        }
    }

    /// <summary>The item from its three halves, or null when an output does not fit the body (spans out of range, text not the body's).</summary>
    private static ArticleItem? Build(string id, Pending joined, long arrival)
    {
        var body = joined.Body!;
        var sentences = new List<ReviewSentence>(joined.Claims!.Sentences.Count);
        var previousEnd = 0;
        foreach (var s in joined.Claims.Sentences.OrderBy(s => s.Start))
        {
            if (!Fits(body, s.Start, s.End, s.Text) || s.Start < previousEnd || !float.IsFinite(s.Score) || !LabelSets.ClaimLabels.Contains(s.Label, StringComparer.Ordinal))
            {
                return null;
            }

            sentences.Add(new ReviewSentence(s.Start, s.End, s.Text, s.Label, s.Score));
            previousEnd = s.End;
        }

        var entities = new List<ReviewEntity>(joined.Entities!.Entities.Count);
        previousEnd = 0;
        foreach (var e in joined.Entities.Entities.OrderBy(e => e.Start))
        {
            if (!Fits(body, e.Start, e.End, e.Text) || e.Start < previousEnd || !float.IsFinite(e.Score) || !LabelSets.EntityTypes.Contains(e.Type, StringComparer.Ordinal)
                || !sentences.Any(s => e.Start >= s.Start && e.End <= s.End))
            {
                return null;
            }

            entities.Add(new ReviewEntity(e.Start, e.End, e.Text, e.Type, e.Score));
            previousEnd = e.End;
        }

        return new ArticleItem(id, joined.Title, body, sentences, entities, joined.Claims.Model, joined.Entities.Model, arrival);
    }

    private static bool Fits(string body, int start, int end, string? text) =>
        start >= 0 && end > start && end <= body.Length && text is not null && body.AsSpan(start, end - start).SequenceEqual(text);

    /// <summary>The item with the labels held for the sentence <c>[start, end)</c> applied (a label for other offsets is for another version of the text).</summary>
    private ArticleItem Apply(ArticleItem item, string key, int start, int end)
    {
        var index = -1;
        for (var i = 0; i < item.Sentences.Count; i++)
        {
            if (item.Sentences[i].Start == start && item.Sentences[i].End == end)
            {
                index = i;
            }
        }

        if (index < 0)
        {
            return item;
        }

        var sentence = item.Sentences[index];
        if (_claimLabels.TryGet(key, out var claim) && claim != sentence.Reviewed)
        {
            sentence = sentence with { Reviewed = claim };
        }

        var entities = item.Entities;
        if (_entityLabels.TryGet(key, out var labelled) && labelled.Text == sentence.Text)
        {
            sentence = sentence with { EntitiesReviewed = true };
            entities = [.. item.Entities.Where(e => e.End <= start || e.Start >= end)
                .Concat(labelled.Entities.Where(e => e.Start >= 0 && e.End > e.Start && e.End <= sentence.Text.Length)
                    .Select(e => new ReviewEntity(start + e.Start, start + e.End, sentence.Text[e.Start..e.End], e.Type, null)))
                .OrderBy(e => e.Start)];
        }

        var sentences = item.Sentences.ToArray();
        sentences[index] = sentence;
        return item with { Sentences = sentences, Entities = entities };
    }

    /// <summary>Queues or updates <paramref name="item"/>; false (and out of the queue) when nothing in it is left to review.</summary>
    private bool Store(ArticleItem item)
    {
        Remove(item.Id);
        if (!HasWork(item))
        {
            return false;
        }

        _items[item.Id] = item;
        _bytes += Bytes(item);

        // O(window) per overflow; the window is a reviewer's worth of articles, not the stream. The newest stays.
        while ((_items.Count > _capacity || _bytes > _maxBytes) && _items.Count > 1)
        {
            var surest = _items.Values.Where(i => i.Id != item.Id).MaxBy(i => (Confidence(i), -i.Arrival))!;
            Remove(surest.Id);
        }

        return true;
    }

    private static bool HasWork(ArticleItem item) =>
        item.Sentences.Any(s => s.Reviewed is null || (!s.EntitiesReviewed && item.Entities.Any(e => e.Start >= s.Start && e.End <= s.End)));

    private void Remove(string id)
    {
        if (_items.Remove(id, out var removed))
        {
            _bytes -= Bytes(removed);
        }
    }

    /// <summary>Memory of an item, roughly: the body twice (sentence texts are substrings of it) plus a record per span.</summary>
    private static long Bytes(ArticleItem item) => (4L * item.Body.Length) + (96L * (item.Sentences.Count + item.Entities.Count)) + 256;

    private sealed record Pending(string? Title, string? Body, ClaimsOutput? Claims, EntitiesOutput? Entities)
    {
        public long Bytes => (2L * (Body?.Length ?? 0))
            + (Claims?.Sentences.Sum(s => 64L + (2L * s.Text.Length)) ?? 0)
            + (Entities?.Entities.Sum(e => 64L + (2L * e.Text.Length)) ?? 0);
    }
}
