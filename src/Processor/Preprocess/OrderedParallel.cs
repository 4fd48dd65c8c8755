using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace StreamBert.Processor.Preprocess;

/// <summary>
/// Runs a transform on several workers and hands the results on in input order. A dispatcher gives each item a slot
/// and queues the slot twice: on the order queue (bounded by <c>window</c>: at most that many items between the
/// dispatcher and the hand-over) and on the work queue the workers take from. The hand-over takes slots from the order
/// queue and waits for each one's result, so a slow item holds back the ones after it (up to the window) but never
/// lets them overtake it: the output order is the input order, whatever the worker count or timing. With one worker it
/// is a plain loop.
/// </summary>
public static class OrderedParallel
{
    /// <param name="input">Items, in the order they must leave in.</param>
    /// <param name="transforms">One transform per worker (each may keep per-worker state; each is called from one worker only).</param>
    /// <param name="emit">Called with each result, in input order, from one task at a time.</param>
    /// <param name="window">Most items dispatched and not yet emitted.</param>
    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "A transform's failure is handed to the slot it was working on and rethrown, in order, by the hand-over.")]
    public static async Task RunAsync<TIn, TOut>(
        ChannelReader<TIn> input, IReadOnlyList<Func<TIn, TOut>> transforms, Func<TOut, CancellationToken, ValueTask> emit, int window, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(transforms);
        ArgumentNullException.ThrowIfNull(emit);
        ArgumentOutOfRangeException.ThrowIfZero(transforms.Count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(window);
        if (transforms.Count == 1)
        {
            var transform = transforms[0];
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out var item))
                {
                    await emit(transform(item), cancellationToken).ConfigureAwait(false);
                }
            }

            return;
        }

        var order = Channel.CreateBounded<Slot<TIn, TOut>>(new BoundedChannelOptions(window) { SingleReader = true, SingleWriter = true });

        // Never fuller than the order queue, which holds every slot the workers have not finished: no bound needed.
        var work = Channel.CreateUnbounded<Slot<TIn, TOut>>(new UnboundedChannelOptions { SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var dispatcher = Task.Run(() => DispatchAsync(input, order.Writer, work.Writer, stop.Token), CancellationToken.None);
        var workers = new Task[transforms.Count];
        for (var w = 0; w < workers.Length; w++)
        {
            var transform = transforms[w];
            workers[w] = Task.Run(() => WorkAsync(work.Reader, transform, stop.Token), CancellationToken.None);
        }

        try
        {
            while (await order.Reader.WaitToReadAsync(stop.Token).ConfigureAwait(false))
            {
                while (order.Reader.TryRead(out var slot))
                {
                    var result = await slot.Result.Task.WaitAsync(stop.Token).ConfigureAwait(false);
                    await emit(result, stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch
        {
            // The dispatcher may be blocked on a full order queue and the workers on an empty work queue: end them.
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll([dispatcher, .. workers]).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }

        await dispatcher.ConfigureAwait(false);
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    private static async Task DispatchAsync<TIn, TOut>(ChannelReader<TIn> input, ChannelWriter<Slot<TIn, TOut>> order, ChannelWriter<Slot<TIn, TOut>> work, CancellationToken cancellationToken)
    {
        try
        {
            while (await input.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out var item))
                {
                    var slot = new Slot<TIn, TOut>(item);
                    await order.WriteAsync(slot, cancellationToken).ConfigureAwait(false);
                    work.TryWrite(slot);
                }
            }

            order.TryComplete();
            work.TryComplete();
        }
        catch (Exception ex)
        {
            order.TryComplete(ex);
            work.TryComplete(ex);
            throw;
        }
    }

    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "The failure belongs to the item: it is rethrown by the hand-over when that item's turn comes.")]
    private static async Task WorkAsync<TIn, TOut>(ChannelReader<Slot<TIn, TOut>> work, Func<TIn, TOut> transform, CancellationToken cancellationToken)
    {
        try
        {
            while (await work.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (work.TryRead(out var slot))
                {
                    try
                    {
                        slot.Result.SetResult(transform(slot.Item));
                    }
                    catch (Exception ex)
                    {
                        slot.Result.SetException(ex);
                    }
                }
            }
        }
        catch (ChannelClosedException)
        {
            // The dispatcher failed; the hand-over sees its exception on the order queue.
        }
    }

    private sealed class Slot<TIn, TOut>(TIn item)
    {
        public TIn Item { get; } = item;

        // Continuations run on the thread pool, so a worker never runs the hand-over's emit inline.
        public TaskCompletionSource<TOut> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
