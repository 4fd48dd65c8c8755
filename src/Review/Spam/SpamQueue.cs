using StreamBert.Contracts;

namespace StreamBert.Review.Spam;

/// <summary>How the queue orders what a reviewer sees.</summary>
public enum QueueMode
{
    /// <summary>Smallest margin between the spam score and the threshold first: the labels that teach the model most.</summary>
    Uncertain,

    /// <summary>A seeded shuffle of the window: an unbiased spot check of the model's accuracy.</summary>
    Random,
}

/// <summary>
/// The bounded window of spam verdicts awaiting review. Outputs (<c>messages.spam</c>) and inputs (<c>messages</c>)
/// arrive on different topics in no particular order; each waits in a bounded map for the other, and the pair becomes
/// an item. Items already labelled (seen on <c>labels.spam</c>, or labelled here) are not queued again.
/// Thread-safe: the feed's consume thread writes, request threads read and remove.
/// </summary>
public sealed class SpamQueue
{
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly double _threshold;
    private readonly Dictionary<string, SpamItem> _items = new(StringComparer.Ordinal);
    private readonly RecentMap<MessageView> _inputs;
    private readonly RecentMap<SpamLabel> _outputs;
    private readonly RecentMap<bool> _labelled;
    private long _arrivals;

    public SpamQueue(int capacity, double threshold)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
        _threshold = threshold;

        // Halves of a pair wait for each other within a few windows' worth of records; older ones are given up.
        _inputs = new RecentMap<MessageView>(capacity * 4);
        _outputs = new RecentMap<SpamLabel>(capacity * 4);
        _labelled = new RecentMap<bool>(capacity * 4);
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

    public void AddInput(MessageView input)
    {
        lock (_lock)
        {
            if (_labelled.Contains(input.Id))
            {
                return;
            }

            if (_outputs.TryTake(input.Id, out var output))
            {
                Enqueue(input, output);
            }
            else
            {
                _inputs.Set(input.Id, input);
            }
        }
    }

    public void AddOutput(SpamLabel output)
    {
        lock (_lock)
        {
            if (_labelled.Contains(output.Id))
            {
                return;
            }

            if (_items.TryGetValue(output.Id, out var queued))
            {
                // A newer model's verdict on the same message (reprocessing) replaces the older one.
                _items[output.Id] = queued with { Verdict = output.Label, Score = output.Score, ModelName = output.Model.Name, ModelVersion = output.Model.Version };
            }
            else if (_inputs.TryTake(output.Id, out var input))
            {
                Enqueue(input, output);
            }
            else
            {
                _outputs.Set(output.Id, output);
            }
        }
    }

    /// <summary>A label for <paramref name="id"/> exists (from this desk or another): it leaves the queue and does not come back.</summary>
    public void MarkLabelled(string id)
    {
        lock (_lock)
        {
            _labelled.Set(id, true);
            _items.Remove(id);
            _inputs.Remove(id);
            _outputs.Remove(id);
        }
    }

    public SpamItem? Find(string id)
    {
        lock (_lock)
        {
            return _items.GetValueOrDefault(id);
        }
    }

    /// <summary>The first <paramref name="count"/> items in <paramref name="mode"/>'s order; <paramref name="seed"/> fixes the random sample.</summary>
    public IReadOnlyList<SpamItem> Take(QueueMode mode, int count, int seed = 0)
    {
        SpamItem[] snapshot;
        lock (_lock)
        {
            snapshot = [.. _items.Values];
        }

        // Arrival order first, so the same window and seed give the same sample whatever the dictionary's order.
        Array.Sort(snapshot, (a, b) => a.Arrival.CompareTo(b.Arrival));
        if (mode == QueueMode.Random)
        {
            new Random(seed).Shuffle(snapshot);
        }
        else
        {
            // OrderBy is stable: equal margins keep arrival order.
            snapshot = [.. snapshot.OrderBy(Margin)];
        }

        return snapshot.Length <= count ? snapshot : snapshot[..count];
    }

    /// <summary>How far the score is from flipping the verdict: 0 is a coin toss.</summary>
    public double Margin(SpamItem item) => Math.Abs(item.Score - _threshold);

    private void Enqueue(MessageView input, SpamLabel output)
    {
        _items[input.Id] = new SpamItem(input.Id, input.Subject, input.From, input.Body, input.ModelText,
            output.Label, output.Score, output.Model.Name, output.Model.Version, _arrivals++);
        if (_items.Count > _capacity)
        {
            // O(window) per overflow; the window is a reviewer's worth of items (thousands), not the stream.
            var surest = _items.Values.MaxBy(i => (Margin(i), -i.Arrival))!;
            _items.Remove(surest.Id);
        }
    }
}
