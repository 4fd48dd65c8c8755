using Confluent.Kafka;

namespace StreamBert.Processor.Ingest;

/// <summary>
/// At-least-once bookkeeping: an input offset becomes committable only when every output it caused has
/// been acknowledged by the broker, and only as part of a contiguous run from the oldest in-flight offset
/// of its partition. Records finish out of order (batches sort by length, articles take longer than
/// messages); committing the highest finished offset would lose the unfinished ones below it on a crash.
/// </summary>
public sealed class OffsetTracker
{
    private readonly Lock _gate = new();
    private readonly Dictionary<TopicPartition, PartitionState> _partitions = [];
    private int _generation;

    /// <summary>Incremented on every assignment change; records of an older generation are not tracked any more.</summary>
    public int Generation
    {
        get
        {
            lock (_gate)
            {
                return _generation;
            }
        }
    }

    /// <summary>Records consumed whose offsets cannot be committed yet (unfinished, or finished behind an unfinished one).</summary>
    public int InFlight
    {
        get
        {
            lock (_gate)
            {
                var total = 0;
                foreach (var state in _partitions.Values)
                {
                    total += state.Pending.Count;
                }

                return total;
            }
        }
    }

    /// <summary>Registers a consumed offset (offsets of a partition arrive in increasing order).</summary>
    public int Track(TopicPartitionOffset position)
    {
        lock (_gate)
        {
            if (!_partitions.TryGetValue(position.TopicPartition, out var state))
            {
                state = new PartitionState();
                _partitions[position.TopicPartition] = state;
            }

            state.Pending.Enqueue(position.Offset.Value);
            return _generation;
        }
    }

    /// <summary>Marks an offset finished (all its outputs acknowledged).</summary>
    public void Complete(TopicPartitionOffset position, int generation)
    {
        lock (_gate)
        {
            if (generation != _generation || !_partitions.TryGetValue(position.TopicPartition, out var state))
            {
                return;
            }

            state.Done.Add(position.Offset.Value);
            while (state.Pending.TryPeek(out var oldest) && state.Done.Remove(oldest))
            {
                state.Pending.Dequeue();
                state.Storable = oldest + 1;
            }
        }
    }

    /// <summary>Offsets that can be stored now (next offset to read per partition), each returned once.</summary>
    public List<TopicPartitionOffset> TakeStorable()
    {
        var result = new List<TopicPartitionOffset>();
        lock (_gate)
        {
            foreach (var (partition, state) in _partitions)
            {
                if (state.Storable > state.Stored)
                {
                    result.Add(new TopicPartitionOffset(partition, state.Storable));
                    state.Stored = state.Storable;
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The next offset to read after the contiguous finished run of <paramref name="partition"/>, or -1 when none of its
    /// records finished since the last <see cref="Reset"/>. Unlike <see cref="TakeStorable"/> it takes nothing: the
    /// exactly-once path asks it repeatedly while a transaction waits for its gaps to fill.
    /// </summary>
    public long Ready(TopicPartition partition)
    {
        lock (_gate)
        {
            return _partitions.TryGetValue(partition, out var state) ? state.Storable : -1;
        }
    }

    /// <summary>Forgets partitions after a rebalance; later completions of their records are ignored.</summary>
    public void Reset()
    {
        lock (_gate)
        {
            _partitions.Clear();
            _generation++;
        }
    }

    private sealed class PartitionState
    {
        public Queue<long> Pending { get; } = new();
        public HashSet<long> Done { get; } = [];
        public long Storable { get; set; } = -1;
        public long Stored { get; set; } = -1;
    }
}
