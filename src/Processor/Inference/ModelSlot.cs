using System.Diagnostics;
using StreamBert.Engine.Inference;

namespace StreamBert.Processor.Inference;

/// <summary>
/// The one reference through which the engine reaches the models it serves. A hot swap replaces the
/// reference in a single atomic exchange; nothing waits for it. Each batch takes a lease on the set
/// that is live when it starts and runs to its end on that set, however many swaps happen meanwhile;
/// a replaced set is disposed when its last lease ends.
/// </summary>
public sealed class ModelSlot : IDisposable
{
    private Holder _live;

    public ModelSlot(ModelSet initial)
    {
        _live = new Holder(initial, 1);
    }

    /// <summary>The live set, for readers that only need its managed parts (tokenizer, head specs, manifests).</summary>
    public ModelSet Current => Volatile.Read(ref _live).Models;

    /// <summary>Takes a lease on the live set; dispose it when the batch is done.</summary>
    public Lease Acquire()
    {
        while (true)
        {
            var live = Volatile.Read(ref _live);
            if (live.TryAddRef())
            {
                return new Lease(live);
            }

            // The set was replaced and released between the read and the add; the next read sees its successor.
        }
    }

    /// <summary>Makes <paramref name="next"/> live; returns the time the exchange took (the only time a batch start can be held up).</summary>
    public TimeSpan Swap(ModelSet next)
    {
        var started = Stopwatch.GetTimestamp();
        Holder previous;
        Holder replacement;
        do
        {
            previous = Volatile.Read(ref _live);
            replacement = new Holder(next, previous.Number + 1);
        }
        while (Interlocked.CompareExchange(ref _live, replacement, previous) != previous);

        var exchanged = Stopwatch.GetTimestamp();
        previous.Release();
        return Stopwatch.GetElapsedTime(started, exchanged);
    }

    public void Dispose() => Volatile.Read(ref _live).Release();

    /// <summary>A set and its lease count; the slot itself holds one reference while the set is live.</summary>
    private sealed class Holder(ModelSet models, long number)
    {
        private int _references = 1;

        public ModelSet Models { get; } = models;

        public long Number { get; } = number;

        public bool TryAddRef()
        {
            while (true)
            {
                var current = Volatile.Read(ref _references);
                if (current == 0)
                {
                    return false;
                }

                if (Interlocked.CompareExchange(ref _references, current + 1, current) == current)
                {
                    return true;
                }
            }
        }

        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0)
            {
                Models.Dispose();
            }
        }
    }

    /// <summary>A batch's hold on one set.</summary>
    public readonly struct Lease : IDisposable
    {
        private readonly Holder _generation;

        internal Lease(object generation) => _generation = (Holder)generation;

        public ModelSet Models => _generation.Models;

        /// <summary>1 for the set served at start, +1 per swap.</summary>
        public long Generation => _generation.Number;

        /// <summary>A second lease on the same set (for a document that must finish on it).</summary>
        public Lease Share() => _generation.TryAddRef()
            ? new Lease(_generation)
            : throw new InvalidOperationException("The set was already released.");

        public void Dispose() => _generation.Release();
    }
}
