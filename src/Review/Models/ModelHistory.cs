using StreamBert.Contracts;

namespace StreamBert.Review.Models;

/// <summary>One event read from the models topic and where it was.</summary>
internal sealed record ModelEventRecord(ModelPublished Event, int Partition, long Offset);

/// <summary>One training run report read from the trainer-runs topic and where it was.</summary>
internal sealed record TrainingRunRecord(TrainingRunReport Report, int Partition, long Offset);

/// <summary>
/// The <c>ModelPublished</c> events and the trainer's run reports the desk has read from the models and trainer-runs topics, newest last,
/// each bounded: the models topic is compacted and small and the runs topic grows by one record a run, but both are
/// input, so their length is not trusted. Thread-safe: the feed's consume thread writes,
/// request threads read snapshots.
/// </summary>
internal sealed class ModelHistory
{
    /// <summary>Events kept, and run reports kept; older ones are dropped (a page shows the latest few per bundle).</summary>
    public const int Capacity = 1000;

    private readonly Lock _lock = new();
    private readonly Queue<ModelEventRecord> _events = new();
    private readonly Queue<TrainingRunRecord> _runs = new();
    private int _unreadable;
    private int _unreadableRuns;

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

    public void AddRun(TrainingRunRecord record)
    {
        lock (_lock)
        {
            _runs.Enqueue(record);
            if (_runs.Count > Capacity)
            {
                _runs.Dequeue();
            }
        }
    }

    /// <summary>A run report that failed <c>TrainingRunReports.Parse</c>, or whose key is not its bundle: counted, never shown.</summary>
    public void AddUnreadableRun()
    {
        lock (_lock)
        {
            _unreadableRuns++;
        }
    }

    public (IReadOnlyList<TrainingRunRecord> Runs, int Unreadable) RunsSnapshot()
    {
        lock (_lock)
        {
            return ([.. _runs], _unreadableRuns);
        }
    }
}
