using StreamBert.Contracts;

namespace StreamBert.Review.Models;

/// <summary>One event read from the models topic and where it was.</summary>
internal sealed record ModelEventRecord(ModelPublished Event, int Partition, long Offset);

/// <summary>
/// The <c>ModelPublished</c> events the desk has read from the models topic, newest last, bounded: the topic is
/// compacted and small, but it is input, so its length is not trusted. Thread-safe: the feed's consume thread writes,
/// request threads read snapshots.
/// </summary>
internal sealed class ModelHistory
{
    /// <summary>Events kept; older ones are dropped (a page shows the latest few per bundle).</summary>
    public const int Capacity = 1000;

    private readonly Lock _lock = new();
    private readonly Queue<ModelEventRecord> _events = new();
    private int _unreadable;

    public void Add(ModelEventRecord record)
    {
        lock (_lock)
        {
            _events.Enqueue(record);
            if (_events.Count > Capacity)
            {
                _events.Dequeue();
            }
        }
    }

    /// <summary>An event that failed <c>ModelEvents.Parse</c>, or whose key is not its bundle: counted, never shown.</summary>
    public void AddUnreadable()
    {
        lock (_lock)
        {
            _unreadable++;
        }
    }

    public (IReadOnlyList<ModelEventRecord> Events, int Unreadable) Snapshot()
    {
        lock (_lock)
        {
            return ([.. _events], _unreadable);
        }
    }
}
