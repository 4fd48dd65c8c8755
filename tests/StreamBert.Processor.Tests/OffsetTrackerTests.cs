using Confluent.Kafka;
using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Tests;

public sealed class OffsetTrackerTests
{
    private static readonly TopicPartition P0 = new("t", 0);
    private static readonly TopicPartition P1 = new("t", 1);

    private static TopicPartitionOffset At(TopicPartition partition, long offset) => new(partition, offset);

    [Fact]
    public void Complete_OutOfOrder_StoresOnlyTheContiguousRun()
    {
        var tracker = new OffsetTracker();
        var generation = 0;
        for (var offset = 10; offset < 15; offset++)
        {
            generation = tracker.Track(At(P0, offset));
        }

        tracker.Complete(At(P0, 12), generation);
        tracker.Complete(At(P0, 11), generation);
        Assert.Empty(tracker.TakeStorable());

        tracker.Complete(At(P0, 10), generation);
        Assert.Equal([At(P0, 13)], tracker.TakeStorable());

        tracker.Complete(At(P0, 14), generation);
        Assert.Empty(tracker.TakeStorable());
        // 14 is finished but not committable behind 13, so it still counts as in flight.
        Assert.Equal(2, tracker.InFlight);

        tracker.Complete(At(P0, 13), generation);
        Assert.Equal([At(P0, 15)], tracker.TakeStorable());
        Assert.Equal(0, tracker.InFlight);
    }

    [Fact]
    public void TakeStorable_CalledTwice_ReturnsEachOffsetOnce()
    {
        var tracker = new OffsetTracker();
        var generation = tracker.Track(At(P0, 0));
        tracker.Complete(At(P0, 0), generation);

        Assert.Equal([At(P0, 1)], tracker.TakeStorable());
        Assert.Empty(tracker.TakeStorable());
    }

    [Fact]
    public void Complete_OnePartitionBlocked_OtherPartitionsStillAdvance()
    {
        var tracker = new OffsetTracker();
        var generation = tracker.Track(At(P0, 0));
        tracker.Track(At(P0, 1));
        tracker.Track(At(P1, 0));
        tracker.Track(At(P1, 1));

        tracker.Complete(At(P0, 1), generation);
        tracker.Complete(At(P1, 0), generation);
        tracker.Complete(At(P1, 1), generation);

        Assert.Equal([At(P1, 2)], tracker.TakeStorable());
    }

    [Fact]
    public void Reset_CompletionsOfTheOldGeneration_AreIgnored()
    {
        var tracker = new OffsetTracker();
        var old = tracker.Track(At(P0, 0));
        tracker.Track(At(P0, 1));

        tracker.Reset();
        tracker.Complete(At(P0, 0), old);
        tracker.Complete(At(P0, 1), old);

        Assert.Equal(old + 1, tracker.Generation);
        Assert.Equal(0, tracker.InFlight);
        Assert.Empty(tracker.TakeStorable());
    }

    [Fact]
    public void Reset_RecordsOfTheNewGeneration_AreTrackedFromScratch()
    {
        var tracker = new OffsetTracker();
        var old = tracker.Track(At(P0, 0));
        tracker.Reset();

        // After a rebalance the partition is re-read from its last commit, here offset 0 again.
        var current = tracker.Track(At(P0, 0));
        tracker.Complete(At(P0, 0), old);
        Assert.Empty(tracker.TakeStorable());

        tracker.Complete(At(P0, 0), current);
        Assert.Equal([At(P0, 1)], tracker.TakeStorable());
    }
}
