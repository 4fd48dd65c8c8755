using System.Threading.Channels;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Processor.Tests.Preprocess;

public sealed class OrderedParallelTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RunAsync_WorkersFinishOutOfOrder_ResultsLeaveInInputOrder()
    {
        const int count = 2_000;
        var input = Filled(count);
        var emitted = new List<int>(count);
        var running = 0;
        var overlapped = 0;
        int Slow(int item)
        {
            if (Interlocked.Increment(ref running) > 1)
            {
                Interlocked.Exchange(ref overlapped, 1);
            }

            // Items finish out of order: every seventh takes much longer than its neighbours.
            Thread.SpinWait(item % 7 == 0 ? 200_000 : 1_000);
            Interlocked.Decrement(ref running);
            return item * 10;
        }

        await OrderedParallel.RunAsync(input, [Slow, Slow, Slow], (result, _) =>
        {
            emitted.Add(result);
            return ValueTask.CompletedTask;
        }, window: 16, chunk: 4, CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(Enumerable.Range(0, count).Select(i => i * 10), emitted);
        Assert.Equal(1, overlapped);
    }

    [Fact]
    public async Task RunAsync_EachWorkerHasItsOwnTransform_EveryItemTransformedOnce()
    {
        const int count = 500;
        var calls = new int[2];
        var seen = new int[count];
        Func<int, int> Worker(int index) => item =>
        {
            calls[index]++; // each transform is called from one worker only, so no interlock is needed
            Interlocked.Increment(ref seen[item]);
            return item;
        };

        var emitted = 0;
        await OrderedParallel.RunAsync(Filled(count), [Worker(0), Worker(1)], (_, _) =>
        {
            emitted++;
            return ValueTask.CompletedTask;
        }, window: 8, chunk: 32, CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(count, emitted);
        Assert.Equal(count, calls.Sum());
        Assert.All(seen, s => Assert.Equal(1, s));
    }

    [Fact]
    public async Task RunAsync_TransformThrows_FailsWithItsExceptionAfterEmittingTheItemsBeforeIt()
    {
        var emitted = new List<int>();
        int Transform(int item) => item == 50 ? throw new InvalidOperationException("item 50") : item;

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => OrderedParallel.RunAsync(Filled(100), [Transform, Transform], (result, _) =>
        {
            emitted.Add(result);
            return ValueTask.CompletedTask;
        }, window: 8, chunk: 16, CancellationToken.None).WaitAsync(Patience));

        Assert.Equal("item 50", error.Message);
        Assert.Equal(Enumerable.Range(0, 50), emitted);
    }

    [Fact]
    public async Task RunAsync_EmitBlocks_WindowBoundsItemsTakenFromInput()
    {
        var input = Channel.CreateUnbounded<int>();
        for (var i = 0; i < 100; i++)
        {
            input.Writer.TryWrite(i);
        }

        var transformed = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource();
        var run = OrderedParallel.RunAsync(input.Reader, [(int i) => { Interlocked.Increment(ref transformed); return i; }, (int i) => { Interlocked.Increment(ref transformed); return i; }], async (_, ct) => await release.Task.WaitAsync(ct), window: 4, chunk: 1, cancel.Token);

        await Task.Delay(300);

        // One item is with the blocked emit, four wait in the window, one is held by the dispatcher waiting for room.
        Assert.InRange(Volatile.Read(ref transformed), 1, 6);
        Assert.InRange(input.Reader.Count, 94, 99);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Patience));
    }

    [Fact]
    public async Task RunAsync_ChunksFillFromWhatIsQueued_ItemsArrivingOneByOneLeaveWithoutWaitingForAFullChunk()
    {
        var input = Channel.CreateUnbounded<int>();
        var emitted = Channel.CreateUnbounded<int>();
        var run = OrderedParallel.RunAsync(input.Reader, [(int i) => i, (int i) => i], (r, ct) => emitted.Writer.WriteAsync(r, ct), window: 4, chunk: 32, CancellationToken.None);

        for (var i = 0; i < 5; i++)
        {
            await input.Writer.WriteAsync(i);
            Assert.Equal(i, await emitted.Reader.ReadAsync().AsTask().WaitAsync(Patience));
        }

        input.Writer.Complete();
        await run.WaitAsync(Patience);
    }

    [Fact]
    public async Task RunAsync_OneWorker_RunsInOrderWithoutDispatch()
    {
        var emitted = new List<int>();
        await OrderedParallel.RunAsync(Filled(10), [(int i) => i + 1], (r, _) =>
        {
            emitted.Add(r);
            return ValueTask.CompletedTask;
        }, window: 1, chunk: 1, CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(Enumerable.Range(1, 10), emitted);
    }

    private static ChannelReader<int> Filled(int count)
    {
        var channel = Channel.CreateUnbounded<int>();
        for (var i = 0; i < count; i++)
        {
            channel.Writer.TryWrite(i);
        }

        channel.Writer.Complete();
        return channel.Reader;
    }
}
