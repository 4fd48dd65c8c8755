namespace StreamBert.Review.Spam;

/// <summary>
/// A map that holds at most <c>capacity</c> entries and forgets the oldest insert when full: the half of a join
/// whose other half has not arrived yet must not grow without bound on a stream where it never does.
/// Not thread-safe; <see cref="SpamQueue"/> guards it.
/// </summary>
internal sealed class RecentMap<TValue>(int capacity)
{
    private readonly Dictionary<string, LinkedListNode<(string Key, TValue Value)>> _nodes = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, TValue Value)> _order = new();

    public int Count => _nodes.Count;

    public void Set(string key, TValue value)
    {
        Remove(key);
        _nodes[key] = _order.AddLast((key, value));
        if (_nodes.Count > capacity)
        {
            var oldest = _order.First!;
            _order.RemoveFirst();
            _nodes.Remove(oldest.Value.Key);
        }
    }

    public bool Contains(string key) => _nodes.ContainsKey(key);

    public bool TryTake(string key, out TValue value)
    {
        if (_nodes.Remove(key, out var node))
        {
            _order.Remove(node);
            value = node.Value.Value;
            return true;
        }

        value = default!;
        return false;
    }

    public void Remove(string key) => TryTake(key, out _);
}
