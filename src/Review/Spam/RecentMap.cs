namespace StreamBert.Review.Spam;

/// <summary>
/// A map that holds at most <c>capacity</c> entries (and, when a size is given, at most <c>maxBytes</c> of them) and
/// forgets the oldest insert when full: the half of a join whose other half has not arrived yet must not grow without
/// bound on a stream where it never does. Not thread-safe; the queues guard it.
/// </summary>
internal sealed class RecentMap<TValue>(int capacity, Func<TValue, long>? size = null, long maxBytes = long.MaxValue)
{
    private readonly Dictionary<string, LinkedListNode<(string Key, TValue Value)>> _nodes = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, TValue Value)> _order = new();
    private long _bytes;

    public int Count => _nodes.Count;

    public void Set(string key, TValue value)
    {
        Remove(key);
        _nodes[key] = _order.AddLast((key, value));
        _bytes += size?.Invoke(value) ?? 0;

        // The newest entry stays even when it alone is over the byte budget: its other half may be next.
        while (_nodes.Count > capacity || (_bytes > maxBytes && _order.Count > 1))
        {
            var oldest = _order.First!;
            _order.RemoveFirst();
            _nodes.Remove(oldest.Value.Key);
            _bytes -= size?.Invoke(oldest.Value.Value) ?? 0;
        }
    }

    public bool Contains(string key) => _nodes.ContainsKey(key);

    public bool TryGet(string key, out TValue value)
    {
        if (_nodes.TryGetValue(key, out var node))
        {
            value = node.Value.Value;
            return true;
        }

        value = default!;
        return false;
    }

    public bool TryTake(string key, out TValue value)
    {
        if (_nodes.Remove(key, out var node))
        {
            _order.Remove(node);
            _bytes -= size?.Invoke(node.Value.Value) ?? 0;
            value = node.Value.Value;
            return true;
        }

        value = default!;
        return false;
    }

    public void Remove(string key) => TryTake(key, out _);
}
